/* pf_maps_read against what the kernel itself says of this process's own
 * mappings: a file mapped at an offset, under a name with spaces, then
 * unlinked; an anonymous mapping; the code of this function. */
#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "process/proc_maps.h"
#include "check_run.h"

static const struct pf_mapping *containing(const struct pf_maps *maps,
					   const void *p)
{
	uint64_t a = (uint64_t)(uintptr_t)p;
	for (size_t i = 0; i < maps->count; i++)
		if (maps->items[i].start <= a && a < maps->items[i].end)
			return &maps->items[i];
	return NULL;
}

START_TEST(a_file_mapped_at_an_offset_then_deleted)
{
	char dir[PATH_MAX], path[PATH_MAX + 32];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/pf-maps-XXXXXX", tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/a name with  spaces", dir);
	long page = sysconf(_SC_PAGESIZE);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 3 * page), 0);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	void *p = mmap(NULL, (size_t)page, PROT_READ, MAP_SHARED, fd, 2 * page);
	ck_assert_ptr_ne(p, MAP_FAILED);
	void *anon = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(anon, MAP_FAILED);
	close(fd);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(rmdir(dir), 0);

	struct pf_maps maps;
	ck_assert_int_eq(pf_maps_read(&maps, getpid()), 0);
	const struct pf_mapping *m = containing(&maps, p);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->start, (uintptr_t)p);
	ck_assert_uint_eq(m->end, (uintptr_t)p + (uint64_t)page);
	ck_assert_str_eq(m->perms, "r--s");
	ck_assert_uint_eq(m->offset, 2 * (uint64_t)page);
	ck_assert_uint_eq(m->dev_major, major(st.st_dev));
	ck_assert_uint_eq(m->dev_minor, minor(st.st_dev));
	ck_assert_uint_eq(m->inode, st.st_ino);
	ck_assert_str_eq(m->path, path);
	ck_assert(m->deleted);

	const struct pf_mapping *a = containing(&maps, anon);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_null(a->path);
	ck_assert_uint_eq(a->inode, 0);
	ck_assert_int_eq(a->perms[1], 'w');

	char exe[PATH_MAX];
	ck_assert_ptr_nonnull(realpath("/proc/self/exe", exe));
	const struct pf_mapping *code = containing(
		&maps, (const void *)(uintptr_t)&containing);
	ck_assert_ptr_nonnull(code);
	ck_assert_str_eq(code->path, exe);
	ck_assert_int_eq(code->perms[2], 'x');
	ck_assert(!code->deleted);
	const struct pf_mapping *first = pf_maps_find(&maps, exe);
	ck_assert_ptr_nonnull(first);
	ck_assert_uint_eq(first->offset, 0);
	pf_maps_free(&maps);
	munmap(p, (size_t)page);
	munmap(anon, (size_t)page);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("proc_maps");
	TCase *tc = tcase_create("self");
	tcase_add_test(tc, a_file_mapped_at_an_offset_then_deleted);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
