#include "watch/thread_hold.h"

#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "process/proc_ctl.h"

bool watch_is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
	       sig == SIGTTOU;
}

void watch_resume(pid_t tid, enum resume_how how, int sig)
{
	if (how == RESUME_LISTEN)
		ptrace(PTRACE_LISTEN, tid, NULL, NULL);
	else
		ptrace(how == RESUME_SYSCALL ? PTRACE_SYSCALL : PTRACE_CONT,
		       tid, NULL, (void *)(long)sig);
}

enum resume_how watch_running(const struct process *p)
{
	return p && p->loader.end != 0 ? RESUME_SYSCALL : RESUME_CONT;
}

size_t watch_hold_threads(struct watch *w, pid_t pid, pid_t already_stopped,
			  struct held *held)
{
	struct pf_wait *list = calloc(w->ntracees + 1, sizeof *list);
	if (list == NULL)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i < w->ntracees; i++) {
		const struct tracee *t = &w->tracees[i];
		if (t->pid != pid)
			continue;
		if (t->tid != already_stopped && t->started)
			ptrace(PTRACE_INTERRUPT, t->tid, NULL, NULL);
		list[n++] = (struct pf_wait){
			.tid = t->tid, .reported = t->tid == already_stopped};
	}
	pf_proc_wait_threads(pid, list, n, false);
	size_t kept = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pf_wait *e = &list[i];
		if (e->ended && !e->unreaped) {
			if (e->reaped)
				watch_thread_ended(w, e->tid, e->status);
			else
				watch_remove_tracee(w, e->tid);
			continue;
		}
		/* An ended leader stays known until its end is reaped. */
		if (e->ended || !e->reported || e->tid == already_stopped)
			continue;
		struct tracee *t = watch_find_tracee(w, e->tid);
		if (t)
			t->started = true;
		struct held h = {.tid = e->tid};
		int sig = WSTOPSIG(e->status), event = e->status >> 16;
		struct process *p = watch_find_process(w, pid);
		h.how = watch_running(p);
		if (event == PTRACE_EVENT_STOP && watch_is_stop_signal(sig))
			h.how = RESUME_LISTEN;
		else if (event == 0 && sig != SYSCALL_TRAP)
			h.sig = sig;
		else if (event != 0)
			watch_note_new_tracee(w, h.tid, event);
		held[kept++] = h;
	}
	free(list);
	return kept;
}
