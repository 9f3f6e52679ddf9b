/* A thread's C stack, as return addresses, by libunwind: of a live
 * thread through its ptrace accessors (the thread must be ptrace-stopped
 * by us), or of a thread of a core file (native_core_unwind.h). */
#ifndef PYFAULT_NATIVE_UNWIND_H
#define PYFAULT_NATIVE_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/errors.h"
#include "native/native_symbols.h"

struct pf_unwound_frame {
	uint64_t pc;
	bool return_address;   /* the call is at pc - 1 */
};

/* The unwinding state shared by the threads of one process (libunwind's
 * address space and its caches), behind the operations of its kind. */
struct pf_unwinder {
	size_t (*unwind)(struct pf_unwinder *u, pid_t tid,
			 struct pf_unwound_frame *frames, size_t max,
			 bool *truncated);
	void (*free)(struct pf_unwinder *u);
};

/* For the live threads of process pid, whose objects' unwind tables are
 * found where objects reports them; NULL, and why in err, when libunwind
 * cannot be loaded (unwind_lib.h), its memory cannot be opened or memory
 * runs out. */
struct pf_unwinder *pf_unwinder_new(pid_t pid, struct pf_symbolizer *objects,
				    struct pf_error *err);
void pf_unwinder_free(struct pf_unwinder *u);

/* Unwinds tid into frames (innermost first, at most max).  Returns the
 * number of frames, 0 when not even the first could be read; *truncated
 * says the stack went on past max. */
size_t pf_unwind_thread(struct pf_unwinder *u, pid_t tid,
			struct pf_unwound_frame *frames, size_t max,
			bool *truncated);

/* The frames of an initialised unw_cursor_t, as pf_unwind_thread gives
 * them: every unwinder's walk. */
size_t pf_unwind_cursor(void *cursor, struct pf_unwound_frame *frames,
			size_t max, bool *truncated);

#endif
