/* The names pf_symbolize gives the code addresses of a live process (the
 * test's own) against the rule it follows, worked out over libdwfl's own
 * view of every symbol table (dwfl_module_getsym_info, one symbol at a
 * time): the nearest function starting at or below the address, unless
 * its size ends before it; the best-bound name among those at one start,
 * the first in the table among equals. */
#include <check.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf/dw_lib.h"
#include "native/native_symbols.h"
#include "check_run.h"

/* Addresses looked up in each module, spread over its functions. */
#define SAMPLES 150

static int rank_of(const GElf_Sym *sym)
{
	return GELF_ST_BIND(sym->st_info) == STB_GLOBAL ? 2
	       : GELF_ST_BIND(sym->st_info) == STB_WEAK ? 1
							: 0;
}

static bool is_function(const GElf_Sym *sym, GElf_Word shndx,
			const char *name)
{
	int type = GELF_ST_TYPE(sym->st_info);
	return name != NULL && shndx != SHN_UNDEF &&
	       (type == STT_FUNC || type == STT_GNU_IFUNC);
}

/* The rule, by a scan of the whole table: the name (without its version)
 * and start for pc, or false. */
static bool expected_name(Dwfl_Module *mod, uint64_t pc, char *name,
			  size_t size, uint64_t *start)
{
	int n = pf_dw.dwfl_module_getsymtab(mod);
	GElf_Sym best_sym = {0};
	GElf_Addr best = 0;
	const char *best_name = NULL;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *sym_name = pf_dw.dwfl_module_getsym_info(
			mod, i, &sym, &addr, &shndx, NULL, NULL);
		if (!is_function(&sym, shndx, sym_name) || addr > pc ||
		    sym_name[0] == '\0')
			continue;
		if (best_name == NULL || addr > best ||
		    (addr == best && rank_of(&sym) > rank_of(&best_sym))) {
			best = addr;
			best_sym = sym;
			best_name = sym_name;
		}
	}
	if (best_name == NULL ||
	    (best_sym.st_size > 0 && pc >= best + best_sym.st_size))
		return false;
	snprintf(name, size, "%.*s", (int)strcspn(best_name, "@"), best_name);
	*start = best;
	return true;
}

struct tally {
	struct pf_symbolizer *symbolizer;
	size_t modules, checked;
};

/* Addresses spread over the module's functions: inside each sampled
 * function and at its start (a return address is looked up one byte
 * before it). */
static size_t sample_pcs(Dwfl_Module *mod, int n, uint64_t *pcs, size_t max)
{
	size_t count = 0;
	int step = n / SAMPLES > 0 ? n / SAMPLES : 1;
	for (int i = 1; i < n && count + 2 <= max; i += step) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *sym_name = pf_dw.dwfl_module_getsym_info(
			mod, i, &sym, &addr, &shndx, NULL, NULL);
		if (!is_function(&sym, shndx, sym_name) || sym.st_size == 0)
			continue;
		pcs[count++] = addr + sym.st_size / 2;
		pcs[count++] = addr;
	}
	return count;
}

static int check_module(Dwfl_Module *mod, void **userdata, const char *path,
			Dwarf_Addr low, void *arg)
{
	struct tally *tally = arg;
	(void)userdata;
	(void)low;
	int n = pf_dw.dwfl_module_getsymtab(mod);
	if (n <= 1)
		return DWARF_CB_OK;
	tally->modules++;
	uint64_t pcs[4 * SAMPLES];
	size_t count = sample_pcs(mod, n, pcs, 4 * SAMPLES);
	/* Told of every address first, as a dump's are: the first name
	 * asked names them all in one pass over the table. */
	for (size_t k = 0; k < count; k++)
		ck_assert(pf_symbolizer_want(tally->symbolizer, pcs[k], false));
	for (size_t k = 0; k < count; k++) {
		char want[256];
		uint64_t start = 0;
		bool found = expected_name(mod, pcs[k], want, sizeof want,
					   &start);
		struct pf_native_frame frame = {.pc = pcs[k]};
		ck_assert(pf_symbolize(tally->symbolizer, &frame));
		ck_assert_msg(found == (frame.symbol != NULL),
			      "%s %#llx: %s, expected %s", path,
			      (unsigned long long)pcs[k],
			      frame.symbol ? frame.symbol : "no name",
			      found ? want : "none");
		if (found) {
			ck_assert_str_eq(frame.symbol, want);
			ck_assert_uint_eq(frame.symbol_offset, pcs[k] - start);
		}
		free(frame.object);
		free(frame.symbol);
		tally->checked++;
	}
	return DWARF_CB_OK;
}

START_TEST(test_names_follow_the_rule)
{
	struct pf_error err = {0};
	struct pf_symbolizer *s = pf_symbolizer_open(getpid(), &err);
	ck_assert_msg(s != NULL, "%s", err.message);
	/* A libdwfl session of its own for the oracle, over the same
	 * objects. */
	Dwfl_Callbacks callbacks = {
		.find_elf = pf_dw.dwfl_linux_proc_find_elf,
		.find_debuginfo = pf_dw.dwfl_standard_find_debuginfo,
	};
	Dwfl *dwfl = pf_dw.dwfl_begin(&callbacks);
	ck_assert_ptr_nonnull(dwfl);
	pf_dw.dwfl_report_begin(dwfl);
	ck_assert_int_eq(pf_dw.dwfl_linux_proc_report(dwfl, getpid()), 0);
	ck_assert_int_eq(pf_dw.dwfl_report_end(dwfl, NULL, NULL), 0);
	struct tally tally = {.symbolizer = s};
	pf_dw.dwfl_getmodules(dwfl, check_module, &tally, 0);
	/* The test program, libc, libelf and libdw at least. */
	ck_assert_uint_ge(tally.modules, 4);
	ck_assert_uint_ge(tally.checked, 400);
	pf_dw.dwfl_end(dwfl);
	pf_symbolizer_close(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("native_symbols");
	TCase *tc = tcase_create("live");
	tcase_add_test(tc, test_names_follow_the_rule);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
