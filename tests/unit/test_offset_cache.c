/* The offset cache: entries survive a round trip, and an entry or a
 * directory that cannot be trusted is refused, never used. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layout/layout_tables.h"
#include "layout/offset_cache.h"
#include "layout/py_layout.h"
#include "check_run.h"

#define BUILD_ID "0123456789abcdef0123456789abcdef01234567"

static char base[64];       /* a fresh directory per test */
static char dir[128];       /* base/pyfault: the cache directory */
static char entry[256];     /* dir/BUILD_ID.offsets */

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void setup(void)
{
	snprintf(base, sizeof base, "/tmp/pyfault-cache-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(base));
	snprintf(dir, sizeof dir, "%s/pyfault", base);
	snprintf(entry, sizeof entry, "%s/%s.offsets", dir, BUILD_ID);
	umask(022);
}

static void teardown(void)
{
	chmod(dir, 0700);
	nftw(base, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A complete layout, as DWARF would give it: the shipped 3.11 row. */
static void sample_layout(struct pf_layout *l, unsigned minor)
{
	struct pf_error err = {0};
	ck_assert(pf_layout_init_version(l, 3, minor, 0));
	ck_assert_int_eq(pf_layout_from_table(l, &err), PF_OK);
	l->source = PF_SOURCE_DWARF;
	snprintf(l->source_detail, sizeof l->source_detail,
		 "/usr/lib/debug/.build-id/01/23.debug");
}

static void fresh_layout(struct pf_layout *l, unsigned minor)
{
	ck_assert(pf_layout_init_version(l, 3, minor, 0));
}

static void assert_same_offsets(const struct pf_layout *a,
				const struct pf_layout *b)
{
#define SAME_(g, f) ck_assert_int_eq(a->g.f, b->g.f);
	PF_LAYOUT_OFFSET_FIELDS(SAME_)
#undef SAME_
#define SAME_SHIFT_(g, f) ck_assert_uint_eq(a->g.f, b->g.f);
	PF_LAYOUT_SHIFT_FIELDS(SAME_SHIFT_)
#undef SAME_SHIFT_
}

static void store_sample(void)
{
	struct pf_layout l;
	char why[512] = "";
	sample_layout(&l, 11);
	ck_assert_msg(pf_offset_cache_store(dir, BUILD_ID, &l, why, sizeof why),
		      "%s", why);
}

static enum pf_cache_lookup load(unsigned minor, struct pf_layout *l,
				 char *why, size_t why_size)
{
	fresh_layout(l, minor);
	return pf_offset_cache_load(dir, BUILD_ID, l, why, why_size);
}

static size_t read_entry(char *buf, size_t size)
{
	FILE *f = fopen(entry, "rb");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n;
}

static void write_entry(const char *buf, size_t len)
{
	FILE *f = fopen(entry, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

/* An entry that load() must refuse, with why naming the problem, and
 * leave the caller's layout as it was. */
static void assert_refused(const char *why_part)
{
	struct pf_layout l, before;
	char why[512] = "";
	fresh_layout(&before, 11);
	ck_assert_int_eq(load(11, &l, why, sizeof why), PF_CACHE_INVALID);
	ck_assert_msg(strstr(why, why_part) != NULL, "why '%s' lacks '%s'",
		      why, why_part);
	ck_assert_int_eq(memcmp(&l, &before, sizeof l), 0);
}

START_TEST(test_round_trip)
{
	struct pf_layout stored, loaded;
	char why[512] = "";
	sample_layout(&stored, 11);
	ck_assert(pf_offset_cache_store(dir, BUILD_ID, &stored, why,
					sizeof why));
	ck_assert_int_eq(load(11, &loaded, why, sizeof why), PF_CACHE_HIT);
	assert_same_offsets(&stored, &loaded);
	ck_assert_str_eq(loaded.source_detail, stored.source_detail);
	ck_assert_int_eq(loaded.source, PF_SOURCE_DWARF);
	const char *missing = NULL;
	ck_assert(pf_layout_complete(&loaded, &missing));

	struct stat st;
	ck_assert_int_eq(lstat(dir, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(lstat(entry, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);

	/* The temporary file was renamed, not left behind; a second store
	 * replaces the entry. */
	ck_assert(pf_offset_cache_store(dir, BUILD_ID, &stored, why,
					sizeof why));
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	int files = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		files += e->d_name[0] != '.';
	closedir(d);
	ck_assert_int_eq(files, 1);
}
END_TEST

START_TEST(test_absent)
{
	struct pf_layout l;
	char why[512] = "";
	/* No directory yet, then a directory without the entry. */
	ck_assert_int_eq(load(11, &l, why, sizeof why), PF_CACHE_MISS);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(load(11, &l, why, sizeof why), PF_CACHE_MISS);
}
END_TEST

START_TEST(test_corrupt)
{
	char buf[16384];
	store_sample();
	size_t n = read_entry(buf, sizeof buf);
	/* One digit of an offset changed: still well-formed, wrong sum. */
	char *line = strstr(buf, "\ntstate.next ");
	ck_assert_ptr_nonnull(line);
	char *digit = line + strlen("\ntstate.next ");
	*digit = *digit == '9' ? '8' : (char)(*digit + 1);
	write_entry(buf, n);
	assert_refused("corrupt");

	write_entry("\x7f" "ELF garbage\n", 12);
	assert_refused("not a pyfault-offsets entry");
}
END_TEST

START_TEST(test_other_format)
{
	char buf[16384];
	store_sample();
	size_t n = read_entry(buf, sizeof buf);
	char *version = strchr(buf, ' ');
	ck_assert_ptr_nonnull(version);
	ck_assert_int_eq(version[1], '0' + PF_OFFSET_CACHE_FORMAT);
	version[1] = '0' + PF_OFFSET_CACHE_FORMAT + 1;
	write_entry(buf, n);
	assert_refused("format");
}
END_TEST

START_TEST(test_truncated)
{
	char buf[16384];
	store_sample();
	size_t n = read_entry(buf, sizeof buf);
	write_entry(buf, n / 2);
	assert_refused("truncated");
	/* Cut right after a line: every line intact, the checksum gone. */
	char *cut = strstr(buf, "\nframe.back ");
	ck_assert_ptr_nonnull(cut);
	write_entry(buf, (size_t)(cut - buf) + 1);
	assert_refused("truncated");
	write_entry(buf, 0);
	assert_refused("cannot read");
}
END_TEST

START_TEST(test_other_python)
{
	struct pf_layout l;
	char why[512] = "";
	store_sample();
	ck_assert_int_eq(load(12, &l, why, sizeof why), PF_CACHE_INVALID);
	ck_assert_ptr_nonnull(strstr(why, "3.12"));
}
END_TEST

START_TEST(test_permissions)
{
	struct pf_layout l;
	char why[512] = "";
	store_sample();

	/* A directory others may write to is neither read nor written. */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(load(11, &l, why, sizeof why), PF_CACHE_INVALID);
	sample_layout(&l, 11);
	ck_assert(!pf_offset_cache_store(dir, BUILD_ID, &l, why, sizeof why));
	ck_assert_ptr_nonnull(strstr(why, "writable by it alone"));
	ck_assert_int_eq(chmod(dir, 0700), 0);

	/* Nor an entry others may write to. */
	ck_assert_int_eq(chmod(entry, 0666), 0);
	assert_refused("writable by it alone");
	ck_assert_int_eq(chmod(entry, 0600), 0);

	/* Nor one that belongs to another user (root can arrange that). */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(entry, 65534, 65534), 0);
		assert_refused("writable by it alone");
		ck_assert_int_eq(chown(dir, 65534, 65534), 0);
		ck_assert(!pf_offset_cache_store(dir, BUILD_ID, &l, why,
						 sizeof why));
	}
}
END_TEST

START_TEST(test_symlinks_not_followed)
{
	char elsewhere[128], planted[256], why[512] = "";
	struct pf_layout l;
	snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", base);
	ck_assert_int_eq(mkdir(elsewhere, 0700), 0);

	/* A link planted where the cache directory goes, to a directory
	 * with a valid entry: neither read nor written through. */
	sample_layout(&l, 11);
	ck_assert(pf_offset_cache_store(elsewhere, BUILD_ID, &l, why,
					sizeof why));
	ck_assert_int_eq(symlink(elsewhere, dir), 0);
	ck_assert_int_eq(load(11, &l, why, sizeof why), PF_CACHE_INVALID);
	ck_assert_ptr_nonnull(strstr(why, "symbolic link"));
	snprintf(planted, sizeof planted, "%s/%s.offsets", elsewhere,
		 BUILD_ID);
	struct stat before, after;
	ck_assert_int_eq(stat(planted, &before), 0);
	sample_layout(&l, 11);
	ck_assert(!pf_offset_cache_store(dir, BUILD_ID, &l, why, sizeof why));
	ck_assert_int_eq(stat(planted, &after), 0);
	ck_assert_int_eq(before.st_ino, after.st_ino);
	ck_assert_int_eq(unlink(dir), 0);
	ck_assert_int_eq(unlink(planted), 0);

	/* A link planted where the entry goes, to a valid entry. */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	store_sample();
	ck_assert_int_eq(rename(entry, planted), 0);
	ck_assert_int_eq(symlink(planted, entry), 0);
	assert_refused("cannot open");
	/* Storing replaces the link itself, not the file it names. */
	sample_layout(&l, 11);
	ck_assert(pf_offset_cache_store(dir, BUILD_ID, &l, why, sizeof why));
	struct stat st;
	ck_assert_int_eq(lstat(entry, &st), 0);
	ck_assert(S_ISREG(st.st_mode));
}
END_TEST

START_TEST(test_unwritable)
{
	char file[96], why[512] = "";
	struct pf_layout l;
	/* The cache's parent is a regular file: no way to create it. */
	snprintf(file, sizeof file, "%s/file", base);
	FILE *f = fopen(file, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	snprintf(dir, sizeof dir, "%s/pyfault", file);
	sample_layout(&l, 11);
	ck_assert(!pf_offset_cache_store(dir, BUILD_ID, &l, why, sizeof why));
	ck_assert_ptr_nonnull(strstr(why, "cannot create"));
	snprintf(dir, sizeof dir, "%s/pyfault", base);
}
END_TEST

START_TEST(test_bad_build_id)
{
	struct pf_layout l;
	char why[512] = "";
	sample_layout(&l, 11);
	ck_assert(!pf_offset_cache_store(dir, "", &l, why, sizeof why));
	ck_assert(!pf_offset_cache_store(dir, "../../etc/x", &l, why,
					 sizeof why));
	ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

START_TEST(test_directory_choice)
{
	char got[4096], want[4096], why[512] = "";
	setenv("XDG_CACHE_HOME", base, 1);
	ck_assert(pf_offset_cache_dir(got, sizeof got, why, sizeof why));
	ck_assert_str_eq(got, dir);

	/* A relative XDG_CACHE_HOME is ignored, as the XDG spec says. */
	setenv("XDG_CACHE_HOME", "relative", 1);
	setenv("HOME", base, 1);
	ck_assert(pf_offset_cache_dir(got, sizeof got, why, sizeof why));
	snprintf(want, sizeof want, "%s/.cache/pyfault", base);
	ck_assert_str_eq(got, want);

	/* A HOME that belongs to someone else (root under sudo keeps the
	 * user's): the home of the effective user instead. */
	unsetenv("XDG_CACHE_HOME");
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(base, 65534, 65534), 0);
		const struct passwd *pw = getpwuid(geteuid());
		ck_assert_ptr_nonnull(pw);
		ck_assert(pf_offset_cache_dir(got, sizeof got, why,
					      sizeof why));
		snprintf(want, sizeof want, "%s/.cache/pyfault", pw->pw_dir);
		ck_assert_str_eq(got, want);
		ck_assert_int_eq(chown(base, 0, 0), 0);
	}
}
END_TEST

/* ------------------------------------------------------- members entries */

#define WHERE "/usr/lib/debug/.build-id/e5/4de4.debug"
#define UNIT "_asynciomodule.c"

/* TaskObj as pf_dwarf_unit_members reads it, before (fresh) or after
 * (read: one member the DWARF lacks). */
static void task_members(struct pf_dwarf_member m[3], bool read)
{
	const struct pf_dwarf_member fresh[3] = {
		{"TaskObj", "task_loop", true, PF_NO_OFFSET, 0, 0},
		{"TaskObj", "task_state", false, PF_NO_OFFSET, 0, 0},
		{"TaskObj", "task_gone", true, PF_NO_OFFSET, 0, 0},
	};
	memcpy(m, fresh, sizeof fresh);
	if (read) {
		m[0].offset = 16, m[0].width = 8, m[0].struct_size = 176;
		m[1].offset = 88, m[1].width = 4, m[1].struct_size = 176;
	}
}

static void member_entry(char *path, size_t size, const char *build_id,
			 const char *kind)
{
	snprintf(path, size, "%s/%s.%s", dir, build_id, kind);
}

static void store_members(const struct pf_dwarf_member *m, size_t n)
{
	char why[512] = "";
	ck_assert_msg(pf_member_cache_store(dir, BUILD_ID, "task", UNIT, m, n,
					    WHERE, why, sizeof why),
		      "%s", why);
}

/* Field by field: the structs' padding is not set. */
static void assert_same_members(const struct pf_dwarf_member *a,
				const struct pf_dwarf_member *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(a[i].offset, b[i].offset);
		if (b[i].offset == PF_NO_OFFSET)
			continue;
		ck_assert_int_eq(a[i].width, b[i].width);
		ck_assert_int_eq(a[i].struct_size, b[i].struct_size);
	}
}

/* Loading m (n members of unit) must be refused with why naming the
 * problem, and leave m as it was. */
static void assert_members_refused(struct pf_dwarf_member *m, size_t n,
				   const char *unit, const char *why_part)
{
	struct pf_dwarf_member before[8];
	char why[512] = "", where[256] = "unchanged";
	ck_assert_uint_le(n, 8);
	memcpy(before, m, n * sizeof *m);
	ck_assert_int_eq(pf_member_cache_load(dir, BUILD_ID, "task", unit, m,
					      n, where, sizeof where, why,
					      sizeof why),
			 PF_CACHE_INVALID);
	ck_assert_msg(strstr(why, why_part) != NULL, "why '%s' lacks '%s'",
		      why, why_part);
	assert_same_members(m, before, n);
	ck_assert_str_eq(where, "unchanged");
}

static void copy_file(const char *from, const char *to)
{
	char buf[16384];
	FILE *f = fopen(from, "rb");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	f = fopen(to, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(to, 0600), 0);
}

#define ELF_KEY "000000000000fe000000000000011f86"
#define ELF_STAMP "30431088 1778312176.000000000 1778312176.000000000"

/* An ELF file's facts come back as stored, for that identity only: a
 * file changed since (another stamp) or a corrupt entry is refused. */
START_TEST(test_elf_facts)
{
	const char facts[] = "load-vaddr = 0\nbuild-id = -\n";
	char why[512] = "", *got, buf[4096];
	size_t len;
	ck_assert_int_eq(pf_elf_facts_cache_load(dir, ELF_KEY, ELF_STAMP, &got,
						 &len, why, sizeof why),
			 PF_CACHE_MISS);
	ck_assert(pf_elf_facts_cache_store(dir, ELF_KEY, ELF_STAMP,
					   "/usr/lib/libpython3.12.so",
					   facts, strlen(facts), why,
					   sizeof why));
	ck_assert_int_eq(pf_elf_facts_cache_load(dir, ELF_KEY, ELF_STAMP, &got,
						 &len, why, sizeof why),
			 PF_CACHE_HIT);
	ck_assert_uint_eq(len, strlen(facts));
	ck_assert(memcmp(got, facts, len) == 0);
	free(got);

	ck_assert_int_eq(pf_elf_facts_cache_load(dir, ELF_KEY,
						 "30431088 1 1", &got, &len,
						 why, sizeof why),
			 PF_CACHE_INVALID);
	ck_assert_ptr_null(got);
	ck_assert_ptr_nonnull(strstr(why, "stamp"));
	ck_assert_int_eq(pf_elf_facts_cache_load(
				 dir, "000000000000fe000000000000011f87",
				 ELF_STAMP, &got, &len, why, sizeof why),
			 PF_CACHE_MISS);

	snprintf(entry, sizeof entry, "%s/%s.elf", dir, ELF_KEY);
	size_t n = read_entry(buf, sizeof buf);
	char *answer = strstr(buf, "load-vaddr = 0");
	ck_assert_ptr_nonnull(answer);
	answer[strlen("load-vaddr = ")] = '1';
	write_entry(buf, n);
	ck_assert_int_eq(pf_elf_facts_cache_load(dir, ELF_KEY, ELF_STAMP, &got,
						 &len, why, sizeof why),
			 PF_CACHE_INVALID);
	ck_assert_ptr_nonnull(strstr(why, "corrupt"));
}
END_TEST

START_TEST(test_members_round_trip)
{
	struct pf_dwarf_member stored[3], loaded[3];
	char why[512] = "", where[256] = "", path[256];
	task_members(stored, true);
	store_members(stored, 3);
	/* The interpreter's layout lives beside it, under its own name. */
	store_sample();
	task_members(loaded, false);
	ck_assert_int_eq(pf_member_cache_load(dir, BUILD_ID, "task", UNIT,
					      loaded, 3, where, sizeof where,
					      why, sizeof why),
			 PF_CACHE_HIT);
	assert_same_members(loaded, stored, 3);
	ck_assert_str_eq(where, WHERE);
	struct pf_layout l;
	ck_assert_int_eq(load(11, &l, why, sizeof why), PF_CACHE_HIT);

	struct stat st;
	member_entry(path, sizeof path, BUILD_ID, "task");
	ck_assert_int_eq(lstat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	/* Another kind of the same build is another entry. */
	task_members(loaded, false);
	ck_assert_int_eq(pf_member_cache_load(dir, BUILD_ID, "futureiter",
					      UNIT, loaded, 3, where,
					      sizeof where, why, sizeof why),
			 PF_CACHE_MISS);
}
END_TEST

START_TEST(test_members_refused)
{
	struct pf_dwarf_member m[4], stored[3];
	char buf[16384], path[256], other[256], why[512] = "";
	task_members(stored, true);
	store_members(stored, 3);
	member_entry(path, sizeof path, BUILD_ID, "task");

	/* Asked for other members than the entry holds: a pyfault whose
	 * caller reads one more, one fewer, or one of another kind. */
	task_members(m, false);
	m[3] = (struct pf_dwarf_member){"TaskObj", "task_name", true,
					PF_NO_OFFSET, 0, 0};
	assert_members_refused(m, 4, UNIT, "lacks TaskObj.task_name");
	assert_members_refused(m, 2, UNIT, "extra lines");
	m[1].pointer = true;
	assert_members_refused(m, 3, UNIT, "lacks TaskObj.task_state");
	task_members(m, false);
	assert_members_refused(m, 3, "Objects/genobject.c", "unit");

	/* Torn and corrupt. */
	FILE *f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	f = fopen(path, "wb");
	ck_assert_uint_eq(fwrite(buf, 1, n / 2, f), n / 2);
	fclose(f);
	assert_members_refused(m, 3, UNIT, "truncated");
	char *digit = strstr(buf, "task_state value ");
	ck_assert_ptr_nonnull(digit);
	digit += strlen("task_state value ");
	*digit = *digit == '9' ? '8' : (char)(*digit + 1);
	f = fopen(path, "wb");
	ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
	fclose(f);
	assert_members_refused(m, 3, UNIT, "corrupt");

	/* Foreign: a layout entry where a members entry goes, and the other
	 * way round; an entry of another build-id. */
	store_sample();
	copy_file(entry, path);
	assert_members_refused(m, 3, UNIT, "not a pyfault-members entry");
	store_members(stored, 3);
	copy_file(path, entry);
	assert_refused("not a pyfault-offsets entry");
	member_entry(other, sizeof other, BUILD_ID "89", "task");
	copy_file(path, other);
	ck_assert_int_eq(pf_member_cache_load(dir, BUILD_ID "89", "task", UNIT,
					      m, 3, NULL, 0, why, sizeof why),
			 PF_CACHE_INVALID);
	ck_assert_ptr_nonnull(strstr(why, "another build-id"));

	/* Well-formed, but a member that does not fit its struct. */
	stored[1].offset = 174;
	store_members(stored, 3);
	assert_members_refused(m, 3, UNIT, "task_state outside its struct");
}
END_TEST

START_TEST(test_members_bad_names)
{
	struct pf_dwarf_member m[3];
	char why[512] = "";
	task_members(m, true);
	ck_assert(!pf_member_cache_store(dir, BUILD_ID, "../task", UNIT, m, 3,
					 WHERE, why, sizeof why));
	ck_assert(!pf_member_cache_store(dir, BUILD_ID, "", UNIT, m, 3, WHERE,
					 why, sizeof why));
	ck_assert(!pf_member_cache_store(dir, "", "task", UNIT, m, 3, WHERE,
					 why, sizeof why));
	ck_assert_int_eq(access(dir, F_OK), -1);
}
END_TEST

static Suite *cache_suite(void)
{
	Suite *s = suite_create("offset_cache");
	TCase *tc = tcase_create("offset_cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_absent);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_other_format);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_other_python);
	tcase_add_test(tc, test_permissions);
	tcase_add_test(tc, test_symlinks_not_followed);
	tcase_add_test(tc, test_unwritable);
	tcase_add_test(tc, test_bad_build_id);
	tcase_add_test(tc, test_directory_choice);
	tcase_add_test(tc, test_members_round_trip);
	tcase_add_test(tc, test_members_refused);
	tcase_add_test(tc, test_members_bad_names);
	tcase_add_test(tc, test_elf_facts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(cache_suite());
}
