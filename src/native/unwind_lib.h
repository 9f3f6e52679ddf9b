/* libunwind-ptrace and libunwind's x86_64 unwinder, loaded (dlopen) the
 * first time a live C stack is unwound: a dump without C stacks, the most
 * common, does not pay for loading them, about 0.1 ms of a 2.5 ms
 * pyfault-attach.  The functions are called through the pointers of
 * struct pf_unwind_lib, under the names the headers give them. */
#ifndef PYFAULT_UNWIND_LIB_H
#define PYFAULT_UNWIND_LIB_H

#include <libunwind-ptrace.h>
#include <stddef.h>

#include "native/eh_frame.h"

/* Every function used; unw_* are macros of libunwind.h for the x86_64
 * names (unw_step is _Ux86_64_step), which the fields take too. */
#define PF_UNWIND_FUNCTIONS(X)                                                \
	X(_UPT_create) X(_UPT_destroy) X(_UPT_access_mem)                     \
	X(_UPT_find_proc_info) X(_UPT_put_unwind_info)                        \
	X(_UPT_get_dyn_info_list_addr) X(_UPT_access_reg)                     \
	X(_UPT_access_fpreg) X(_UPT_resume) X(unw_init_remote)                \
	X(unw_create_addr_space) X(unw_destroy_addr_space)                    \
	X(unw_set_caching_policy) X(unw_get_reg) X(unw_is_signal_frame)       \
	X(unw_step) X(_Ux86_64_dwarf_search_unwind_table)

struct pf_unwind_lib {
#define PF_UNWIND_FIELD_(f) __typeof__(f) *f;
	PF_UNWIND_FUNCTIONS(PF_UNWIND_FIELD_)
#undef PF_UNWIND_FIELD_
};

/* The functions, loaded on the first call; NULL when the libraries cannot
 * be loaded, and why in why[size]. */
const struct pf_unwind_lib *pf_unwind_lib(char *why, size_t size);

#endif
