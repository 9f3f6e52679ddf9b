/* elfutils' libdw (libdw, libdwfl and libdwelf), loaded (dlopen) the first
 * time DWARF, a separate debug file, C frames' symbols or a core's modules
 * are needed: a dump from cached offsets does without it, and loading it
 * with the program, with liblzma and libbz2, costs about 0.13 ms of a 2 ms
 * pyfault-attach.  The functions are called as pf_dw.NAME, under the names
 * the headers give them, once pf_dw_load has succeeded. */
#ifndef PYFAULT_DW_LIB_H
#define PYFAULT_DW_LIB_H

#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stddef.h>

#define PF_DW_FUNCTIONS(X)                                                    \
	X(dwarf_aggregate_size) X(dwarf_attr) X(dwarf_attr_integrate)         \
	X(dwarf_begin_elf) X(dwarf_child) X(dwarf_diecu) X(dwarf_end)         \
	X(dwarf_errmsg) X(dwarf_formref_die) X(dwarf_formstring)              \
	X(dwarf_formudata) X(dwarf_get_units) X(dwarf_getalt)                 \
	X(dwarf_getelf) X(dwarf_getlocation) X(dwarf_hasattr)                 \
	X(dwarf_siblingof) X(dwarf_tag) X(dwelf_elf_gnu_debuglink)            \
	X(dwfl_addrmodule) X(dwfl_begin) X(dwfl_build_id_find_elf)            \
	X(dwfl_core_file_report) X(dwfl_end) X(dwfl_errmsg)                  \
	X(dwfl_getmodules) X(dwfl_lineinfo) X(dwfl_linux_proc_find_elf)       \
	X(dwfl_linux_proc_report) X(dwfl_module_build_id)                     \
	X(dwfl_module_getdwarf) X(dwfl_module_getelf) X(dwfl_module_getsrc)   \
	X(dwfl_module_getsym_info) X(dwfl_module_getsymtab)                   \
	X(dwfl_module_info) X(dwfl_offline_section_address)                   \
	X(dwfl_report_begin) X(dwfl_report_end) X(dwfl_report_offline)        \
	X(dwfl_standard_find_debuginfo)

struct pf_dw_lib {
#define PF_DW_FIELD_(f) __typeof__(f) *f;
	PF_DW_FUNCTIONS(PF_DW_FIELD_)
#undef PF_DW_FIELD_
};

/* The functions; each is NULL until pf_dw_load has succeeded. */
extern struct pf_dw_lib pf_dw;

/* Loads libdw on the first call, true when its functions can be called;
 * else false, with why[size] naming the cause and the package. */
bool pf_dw_load(char *why, size_t size);

#endif
