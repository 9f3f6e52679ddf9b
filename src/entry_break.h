/* A one-shot breakpoint at a freshly exec'd program's entry point.  When
 * the program gets there, the dynamic loader has mapped every library it
 * links, libpython included, and no line of Python has run yet: the moment
 * to find the interpreter and its offsets ahead of any crash. */
#ifndef PYFAULT_ENTRY_BREAK_H
#define PYFAULT_ENTRY_BREAK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pf_entry_break {
	uint64_t addr;      /* AT_ENTRY; 0 when not armed */
	long saved_word;    /* the program's own bytes there */
};

/* Arms the breakpoint in pid, which must be ptrace-stopped right after
 * exec (its only thread).  false when it could not be set. */
bool pf_entry_break_arm(struct pf_entry_break *bp, pid_t pid);

/* Whether thread tid, stopped by SIGTRAP, stopped at the armed breakpoint;
 * if so, puts the program's bytes back, moves the thread back onto the
 * entry instruction and disarms.  The SIGTRAP is then ours: the caller
 * must not deliver it. */
bool pf_entry_break_reached(struct pf_entry_break *bp, pid_t tid);

#endif
