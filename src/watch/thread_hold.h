/* Holding every thread of a watched process for a dump, and giving each
 * back the stop it reported meanwhile. */
#ifndef PYFAULT_THREAD_HOLD_H
#define PYFAULT_THREAD_HOLD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "watch/watch_tables.h"

/* What a thread was doing when it stopped, to be given back on resume. */
enum resume_how { RESUME_CONT, RESUME_SYSCALL, RESUME_LISTEN };

/* A system-call-stop, as PTRACE_O_TRACESYSGOOD marks it apart from a real
 * SIGTRAP. */
#define SYSCALL_TRAP (SIGTRAP | 0x80)

struct held {
	pid_t tid;
	enum resume_how how;
	int sig;
};

bool watch_is_stop_signal(int sig);
/* Puts the thread into the state it reported: running, or held in a
 * group-stop that only SIGCONT may end. */
void watch_resume(pid_t tid, enum resume_how how, int sig);
/* How a thread of p runs on: to its next system call while the loader
 * starts p's new image, else freely. */
enum resume_how watch_running(const struct process *p);
/* Interrupts every running thread of process pid and waits until each has
 * stopped (a new thread reports its first stop by itself); what each
 * reported instead of the interrupt is kept in held so watch_resume()
 * gives it back.  Threads that end meanwhile, already_stopped too, are
 * reaped, which the leader's end waits for.  A thread that neither stops
 * nor ends in time is not held; its stop comes later as a late interrupt.
 * held has room for every tracee; returns the number of threads held,
 * already_stopped not counted. */
size_t watch_hold_threads(struct watch *w, pid_t pid, pid_t already_stopped,
			  struct held *held);

#endif
