/* pf_elf_symbols against the dynamic linker: the exported symbols of a
 * library this test has loaded (libelf's own), looked up in its file,
 * must be where dlsym finds them.  pf_elf_build_id against libdwelf's
 * reader, and against the names of separate debug files. */
#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
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

int main(void)
{
	Suite *s = suite_create("elf_symbols");
	TCase *tc = tcase_create("loaded");
	tcase_add_test(tc, exported_symbols_are_where_the_loader_put_them);
	tcase_add_test(tc, build_id_is_libdwelfs);
	tcase_add_test(tc, debug_files_are_named_by_their_build_id);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
