/* Stopping every thread of a process with ptrace, and letting it go again
 * exactly as it was: signals that arrived while it was held are handed back,
 * and nothing else is delivered. */
#ifndef PYFAULT_PROC_CTL_H
#define PYFAULT_PROC_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errors.h"

struct pf_thread {
	pid_t tid;
	uint64_t pthread_id;   /* fs_base: pthread_self() of the thread, the
	                          value CPython keeps in tstate->thread_id */
	int pending_signal;    /* caught while stopping; re-sent at detach */
};

struct pf_stopped {
	pid_t pid;
	struct pf_thread *threads;
	size_t count;
};

/* Seizes and interrupts every thread of pid, re-listing /proc/PID/task until
 * no thread is missing.  On failure every thread already held is released
 * before returning. */
enum pf_status pf_proc_stop_all(struct pf_stopped *stopped, pid_t pid,
				struct pf_error *err);

/* Detaches from every held thread.  Safe to call twice. */
void pf_proc_resume_all(struct pf_stopped *stopped);

/* The process has exited: gone, or a zombie waiting to be reaped. */
bool pf_proc_exited(pid_t pid);

/* pid as the process knows itself, in the pid namespace it was started in
 * (the last NSpid field); pid when that is ours or it cannot be told.
 * pyfault names processes and threads by their ids in its own namespace. */
pid_t pf_proc_ns_pid(pid_t pid);

/* The OS thread whose pthread_self() is pthread_id, or 0. */
pid_t pf_proc_tid_of(const struct pf_stopped *stopped, uint64_t pthread_id);

#endif
