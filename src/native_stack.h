/* The C frames of every thread of a snapshot, unwound and symbolized while
 * the target is still stopped. */
#ifndef PYFAULT_NATIVE_STACK_H
#define PYFAULT_NATIVE_STACK_H

#include <stdbool.h>
#include <sys/types.h>

#include "errors.h"
#include "snapshot.h"

/* Which C frames get their source line looked up: it reads DWARF, often
 * compressed, which costs more than all the rest. */
struct pf_native_lines {
	bool wanted;
	const char *except_in;  /* no lines for this object (the one the
	                           merged view hides); NULL: none */
};

/* Fills native/nnative of each thread of snap whose OS thread is known;
 * every one of those threads must be ptrace-stopped.  A thread whose stack
 * cannot be read keeps nnative 0; fails only when the process's objects
 * cannot be listed or memory runs out. */
enum pf_status pf_collect_native(struct pf_snapshot *snap, pid_t pid,
				 const struct pf_native_lines *lines,
				 struct pf_error *err);

#endif
