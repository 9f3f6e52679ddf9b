/* The C stacks of the threads of a core file, by libunwind with
 * libunwind-coredump's registers (see native_core_unwind.c for what is
 * read how). */
#ifndef PYFAULT_NATIVE_CORE_UNWIND_H
#define PYFAULT_NATIVE_CORE_UNWIND_H

#include "corefile/core_file.h"
#include "native/native_unwind.h"

/* For the threads of core, which must outlive it; NULL when out of memory
 * or when libunwind-coredump cannot read the core.  pf_unwind_thread takes
 * the threads' ids as the core names them. */
struct pf_unwinder *pf_core_unwinder_new(struct pf_core *core);

#endif
