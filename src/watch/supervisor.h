/* Runs a program under ptrace from its first instruction to its end,
 * stopping it only to dump it: on a fatal signal that is about to kill it,
 * on a timeout, or when the operator asks (SIGUSR1 to the watcher). */
#ifndef PYFAULT_SUPERVISOR_H
#define PYFAULT_SUPERVISOR_H

#include <stdbool.h>
#include <stdio.h>

#include "base/errors.h"
#include "watch/watch_options.h"

struct pf_watch_outcome {
	int wait_status;      /* of the program, as waitpid() gave it */
	bool killed_on_timeout;
};

/* Starts opt->command and supervises it until it ends, writing dumps to
 * out.  Fails only when the program cannot be started under ptrace.  The
 * signals it takes stay blocked on return: one that comes as the program
 * ends has nothing left to act on, and must not end pyfault-watch (a dump
 * request, SIGUSR1, would kill it). */
enum pf_status pf_watch_run(const struct watch_options *opt, FILE *out,
			    struct pf_watch_outcome *outcome,
			    struct pf_error *err);

#endif
