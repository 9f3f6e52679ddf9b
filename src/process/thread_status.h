/* What /proc tells of one thread of a stopped process: its name and the
 * system call it is in.  The walker adds what only the interpreter knows
 * (who holds the GIL, whether a futex is the GIL's). */
#ifndef PYFAULT_THREAD_STATUS_H
#define PYFAULT_THREAD_STATUS_H

#include <sys/types.h>

#include "base/snapshot.h"

/* Fills status->name from /proc/PID/task/TID/comm and status->state,
 * syscall_nr and syscall_args from /proc/PID/task/TID/syscall, which the
 * kernel fills only for a thread that is not running (stopped by ptrace
 * here).  What cannot be read is left unknown. */
void pf_read_thread_status(pid_t pid, pid_t tid,
			   struct pf_thread_status *status);

#endif
