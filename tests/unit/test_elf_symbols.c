/* pf_elf_symbols against the dynamic linker: the exported symbols of a
 * library this test has loaded (libelf's own), looked up in its file,
 * must be where dlsym finds them.  pf_elf_build_id against libdwelf's
 * reader, and against the names of separate debug files.  Facts learnt of
 * a file answer as the file did. */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf/elf_symbols.h"
#include "check_run.h"

START_TEST(exported_symbols_are_where_the_loader_put_them)
{
	Dl_info info;
	ck_assert(dladdr((void *)(uintptr_t)&elf_begin, &info) != 0);
	struct pf_elf *elf = pf_elf_open(info.dli_fname);
	ck_assert_ptr_nonnull(elf);
	struct pf_elf_wanted wanted[] = {
		{.name = "gelf_getsym"}, {.name = "elf_begin"},
		{.name = "pf_no_such_symbol"}, {.name = "elf_version"},
		{.name = "elf_end"}, {.name = "elf_nextscn"},
	};
	size_t n = sizeof wanted / sizeof wanted[0];
	ck_assert_uint_eq(pf_elf_symbols(elf, wanted, n), n - 1);
	uintptr_t bias = (uintptr_t)info.dli_fbase - pf_elf_load_vaddr(elf);
	for (size_t i = 0; i < n; i++) {
		void *loaded = dlsym(RTLD_DEFAULT, wanted[i].name);
		ck_assert_msg(wanted[i].found == (loaded != NULL), "%s",
			      wanted[i].name);
		if (loaded)
			ck_assert_uint_eq(bias + wanted[i].value,
					  (uintptr_t)loaded);
		ck_assert(!wanted[i].found || wanted[i].size > 0);
	}
	uint64_t value;
	ck_assert(pf_elf_symbol(elf, "elf_end", &value, NULL));
	ck_assert_uint_eq(bias + value, (uintptr_t)&elf_end);
	ck_assert(!pf_elf_symbol(elf, "pf_no_such_symbol", &value, NULL));
	pf_elf_close(elf);
}
END_TEST

/* The build-id libdwelf reads from path's ELF file, as hex. */
static void dwelf_build_id(const char *path, char *hex, size_t size)
{
	elf_version(EV_CURRENT);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	ck_assert_ptr_nonnull(elf);
	const void *bits;
	ssize_t len = dwelf_elf_gnu_build_id(elf, &bits);
	ck_assert_int_gt(len, 0);
	ck_assert_uint_lt((size_t)len * 2, size);
	for (ssize_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x",
			 ((const unsigned char *)bits)[i]);
	elf_end(elf);
	close(fd);
}

START_TEST(build_id_is_libdwelfs)
{
	Dl_info info;
	ck_assert(dladdr((void *)(uintptr_t)&elf_begin, &info) != 0);
	char want[128], got[128];
	dwelf_build_id(info.dli_fname, want, sizeof want);
	struct pf_elf *elf = pf_elf_open(info.dli_fname);
	ck_assert_ptr_nonnull(elf);
	pf_elf_build_id(elf, got, sizeof got);
	ck_assert_str_eq(got, want);
	/* Too small a buffer gets nothing rather than a cut id. */
	pf_elf_build_id(elf, got, strlen(want));
	ck_assert_str_eq(got, "");
	pf_elf_close(elf);
}
END_TEST

/* Separate debug files are named .build-id/xx/rest.debug by the build-id
 * they share with their stripped files: an oracle of another source. */
START_TEST(debug_files_are_named_by_their_build_id)
{
	const char *top = "/usr/lib/debug/.build-id";
	DIR *dirs = opendir(top);
	size_t checked = 0;
	struct dirent *d;
	while (dirs && checked < 20 && (d = readdir(dirs)) != NULL) {
		char dir[300];
		if (strlen(d->d_name) != 2)
			continue;
		snprintf(dir, sizeof dir, "%s/%s", top, d->d_name);
		DIR *files = opendir(dir);
		struct dirent *f;
		while (files && checked < 20 && (f = readdir(files)) != NULL) {
			const char *dot = strrchr(f->d_name, '.');
			if (dot == NULL || strcmp(dot, ".debug") != 0)
				continue;
			char path[600], want[128], got[128];
			snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
			snprintf(want, sizeof want, "%s%.*s", d->d_name,
				 (int)(dot - f->d_name), f->d_name);
			struct pf_elf *elf = pf_elf_open(path);
			ck_assert_ptr_nonnull(elf);
			pf_elf_build_id(elf, got, sizeof got);
			ck_assert_str_eq(got, want);
			pf_elf_close(elf);
			checked++;
		}
		if (files)
			closedir(files);
	}
	if (dirs)
		closedir(dirs);
	/* The suite installs python3.11-dbg, whose debug files are there. */
	ck_assert_uint_gt(checked, 0);
}
END_TEST

/* A file that is not ELF: what a lazily opened pf_elf answers about it
 * can only come from the facts it was given. */
static void not_elf(char *path, size_t size)
{
	snprintf(path, size, "/tmp/pyfault-not-elf-XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "text\n", 5), 5);
	close(fd);
}

/* What was learnt of a file answers the same questions of it again, and
 * no others: a question asked with other names, or about another section,
 * is the file's to answer. */
START_TEST(facts_answer_what_the_file_did)
{
	Dl_info info;
	ck_assert(dladdr((void *)(uintptr_t)&elf_begin, &info) != 0);
	struct pf_elf *elf = pf_elf_open_lazily(info.dli_fname);
	ck_assert_ptr_nonnull(elf);
	size_t len;
	ck_assert_ptr_null(pf_elf_new_facts(elf, &len));
	struct pf_elf_wanted wanted[] = {
		{.name = "elf_begin"}, {.name = "pf_no_such_symbol"},
		{.name = "elf_end", .local = true}, {.name = "gelf_getsym"},
	};
	enum { N = sizeof wanted / sizeof wanted[0] };
	size_t found = pf_elf_symbols(elf, wanted, N);
	uint64_t value, size, vaddr = pf_elf_load_vaddr(elf);
	ck_assert(pf_elf_symbol(elf, "elf_nextscn", &value, &size));
	char build_id[128];
	pf_elf_build_id(elf, build_id, sizeof build_id);
	ck_assert_str_ne(build_id, "");
	const char *facts = pf_elf_new_facts(elf, &len);
	ck_assert_ptr_nonnull(facts);
	char *kept = strndup(facts, len);

	char path[64], why[256] = "";
	not_elf(path, sizeof path);
	struct pf_elf *text = pf_elf_open_lazily(path);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(pf_elf_check(text, why, sizeof why), PF_ELF_NOT_ELF);
	ck_assert_str_eq(why, "not an ELF file");
	pf_elf_close(text);

	text = pf_elf_open_lazily(path);
	pf_elf_use_facts(text, kept, len);
	ck_assert_int_eq(pf_elf_check(text, why, sizeof why),
			 PF_ELF_READABLE);
	struct pf_elf_wanted again[N];
	for (size_t i = 0; i < N; i++)
		again[i] = (struct pf_elf_wanted){.name = wanted[i].name,
						  .local = wanted[i].local};
	ck_assert_uint_eq(pf_elf_symbols(text, again, N), found);
	for (size_t i = 0; i < N; i++) {
		ck_assert(again[i].found == wanted[i].found);
		ck_assert(!again[i].found ||
			  (again[i].value == wanted[i].value &&
			   again[i].size == wanted[i].size));
	}
	ck_assert_uint_eq(pf_elf_load_vaddr(text), vaddr);
	uint64_t v2, s2;
	ck_assert(pf_elf_symbol(text, "elf_nextscn", &v2, &s2));
	ck_assert_uint_eq(v2, value);
	ck_assert_uint_eq(s2, size);
	char got[128];
	pf_elf_build_id(text, got, sizeof got);
	ck_assert_str_eq(got, build_id);
	/* Nothing new was learnt, so there is nothing to keep. */
	ck_assert_ptr_null(pf_elf_new_facts(text, &len));

	/* Not asked before: the file, not ELF, answers nothing. */
	ck_assert_uint_eq(pf_elf_symbols(text, again, 1), 0);
	ck_assert(!pf_elf_symbol(text, "elf_end", &v2, NULL));
	ck_assert(!pf_elf_section(text, ".text", &v2, &s2));
	pf_elf_close(text);

	/* Facts that are not such lines are not taken. */
	text = pf_elf_open_lazily(path);
	pf_elf_use_facts(text, "load-vaddr 0\n", 13);
	ck_assert_int_eq(pf_elf_check(text, why, sizeof why), PF_ELF_NOT_ELF);
	ck_assert_uint_eq(pf_elf_load_vaddr(text), 0);
	pf_elf_close(text);
	unlink(path);
	free(kept);
	pf_elf_close(elf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("elf_symbols");
	TCase *tc = tcase_create("loaded");
	tcase_add_test(tc, exported_symbols_are_where_the_loader_put_them);
	tcase_add_test(tc, build_id_is_libdwelfs);
	tcase_add_test(tc, debug_files_are_named_by_their_build_id);
	tcase_add_test(tc, facts_answer_what_the_file_did);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
