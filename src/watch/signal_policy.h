/* What pyfault-watch does with a signal its program gets: dump it, pass it
 * on, or stop with it, so that the program ends or stops exactly as it
 * would have untraced. */
#ifndef PYFAULT_SIGNAL_POLICY_H
#define PYFAULT_SIGNAL_POLICY_H

#include <sys/types.h>

#include "watch/watch_tables.h"

/* A signal-delivery-stop of thread tid of p (NULL: not known): the signal
 * goes on unchanged, after a dump when it is fatal and about to kill, or
 * one pyfault-watch was asked to dump on (swallowed then, unless
 * --chain). */
void watch_signal_stop(struct watch *w, struct process *p, pid_t tid, int sig);
/* A group-stop of thread tid by the stop signal sig: it stays stopped until
 * SIGCONT, and pyfault-watch stops too when the shell must see it. */
void watch_group_stop(struct watch *w, const struct process *p, pid_t tid,
		      int sig);

#endif
