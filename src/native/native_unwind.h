/* A thread's C stack, as return addresses, by libunwind's ptrace
 * accessors: the thread must be ptrace-stopped by us. */
#ifndef PYFAULT_NATIVE_UNWIND_H
#define PYFAULT_NATIVE_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The unwinding state shared by the threads of one process (libunwind's
 * address space and its caches). */
struct pf_unwinder;

struct pf_unwound_frame {
	uint64_t pc;
	bool return_address;   /* the call is at pc - 1 */
};

/* For the threads of process pid; NULL when out of memory or when its
 * memory cannot be opened. */
struct pf_unwinder *pf_unwinder_new(pid_t pid);
void pf_unwinder_free(struct pf_unwinder *u);

/* Unwinds tid into frames (innermost first, at most max).  Returns the
 * number of frames, 0 when not even the first could be read; *truncated
 * says the stack went on past max. */
size_t pf_unwind_thread(struct pf_unwinder *u, pid_t tid,
			struct pf_unwound_frame *frames, size_t max,
			bool *truncated);

#endif
