/* pf_elf_symbols against the dynamic linker: the exported symbols of a
 * library this test has loaded (libelf's own), looked up in its file,
 * must be where dlsym finds them. */
#include <check.h>
#include <dlfcn.h>
#include <gelf.h>

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

int main(void)
{
	Suite *s = suite_create("elf_symbols");
	TCase *tc = tcase_create("loaded");
	tcase_add_test(tc, exported_symbols_are_where_the_loader_put_them);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
