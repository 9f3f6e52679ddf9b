/* Stopping every thread of a process with ptrace, and letting it go again
 * exactly as it was: signals that arrived while it was held are handed back,
 * and nothing else is delivered. */
#ifndef PYFAULT_PROC_CTL_H
#define PYFAULT_PROC_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/errors.h"

struct pf_thread {
	pid_t tid;
	uint64_t pthread_id;   /* fs_base: pthread_self() of the thread, the
	                          value CPython keeps in tstate->thread_id;
	                          0 until pf_proc_read_thread_ids */
	int pending_signal;    /* caught while stopping; re-sent at detach */
};

struct pf_stopped {
	pid_t pid;
	struct pf_thread *threads;  /* the threads held, each stopped */
	size_t count;
	/* The thread group leader ended while held or being stopped, and
	 * waits to be reaped, which the kernel allows only once every other
	 * thread of its group has ended and been reaped. */
	bool leader_to_reap;
};

/* The longest any wait for a traced thread lasts.  A thread that has
 * neither stopped nor ended by then sleeps uninterruptibly (state D) or
 * belongs to a frozen cgroup. */
#define PF_PROC_WAIT_MS 5000

/* A traced thread waited for, and what it reported. */
struct pf_wait {
	pid_t tid;
	int status;      /* waitpid()'s, of its stop or its end */
	bool reported;   /* it reported a ptrace-stop or its end */
	bool ended;      /* it ended (or is no longer the caller's) */
	bool reaped;     /* its end was collected here: status is its end */
	bool unreaped;   /* a thread group leader that ended while threads of
	                    its group remain: the kernel reports its end only
	                    after theirs */
};

/* Waits until every thread of list, all of process pid and traced by the
 * caller, has reported a ptrace-stop or its end, PF_PROC_WAIT_MS at most.
 * Every thread is polled in turn, those that reported already too, and a
 * thread that ends is reaped at once: the leader's end is reported to its
 * tracer only after that of every other thread of the group, so waiting
 * for one thread alone can wait for ever.  With until_reaped, a leader
 * that ended counts only once it is reaped; otherwise it counts as soon
 * as it has ended (unreaped set).  Returns the number of threads that
 * reported nothing in time. */
size_t pf_proc_wait_threads(pid_t pid, struct pf_wait *list, size_t n,
			    bool until_reaped);

/* Seizes and interrupts every thread of pid, re-listing /proc/PID/task until
 * no thread is missing, and waits until each has stopped; threads that end
 * meanwhile are reaped and forgotten.  On failure every thread already
 * held is released before returning. */
enum pf_status pf_proc_stop_all(struct pf_stopped *stopped, pid_t pid,
				struct pf_error *err);

/* Detaches from every held thread, and reaps those that ended while held
 * (PF_PROC_WAIT_MS at most): nothing of the process stays traced by the
 * caller.  Safe to call twice. */
void pf_proc_resume_all(struct pf_stopped *stopped);

/* The process has exited: gone, or a zombie waiting to be reaped. */
bool pf_proc_exited(pid_t pid);

/* st, unless a failure (other than PF_ERR_NO_PROCESS) of a process that
 * has exited meanwhile, which explains it best: its files and memory vanish
 * at any step.  Then err says so and PF_ERR_EXITED is returned. */
enum pf_status pf_proc_exit_explains(pid_t pid, enum pf_status st,
				     struct pf_error *err);

/* pid as the process knows itself, in the pid namespace it was started in
 * (the last NSpid field); pid when that is ours or it cannot be told.
 * pyfault names processes and threads by their ids in its own namespace. */
pid_t pf_proc_ns_pid(pid_t pid);

/* Fills each held thread's pthread_id, a system call per thread: only a
 * dump that names OS threads (--status, JSON, C stacks, 3.14's thread
 * names) needs them. */
void pf_proc_read_thread_ids(struct pf_stopped *stopped);

/* The OS thread whose pthread_self() is pthread_id, or 0. */
pid_t pf_proc_tid_of(const struct pf_stopped *stopped, uint64_t pthread_id);

#endif
