#include "watch/watch_tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct tracee *watch_find_tracee(struct watch *w, pid_t tid)
{
	for (size_t i = 0; i < w->ntracees; i++)
		if (w->tracees[i].tid == tid)
			return &w->tracees[i];
	return NULL;
}

struct process *watch_find_process(struct watch *w, pid_t pid)
{
	for (size_t i = 0; i < w->nprocs; i++)
		if (w->procs[i].pid == pid)
			return &w->procs[i];
	return NULL;
}

/* Grows *items (of *cap elements of size bytes) to hold one more. */
static bool grow(void **items, size_t count, size_t *cap, size_t size)
{
	if (count < *cap)
		return true;
	size_t n = *cap ? *cap * 2 : 16;
	void *p = realloc(*items, n * size);
	if (p == NULL)
		return false;
	*items = p;
	*cap = n;
	return true;
}

struct process *watch_add_process(struct watch *w, pid_t pid)
{
	struct process *p = watch_find_process(w, pid);
	if (p || !grow((void **)&w->procs, w->nprocs, &w->procs_cap,
		       sizeof *w->procs))
		return p;
	p = &w->procs[w->nprocs++];
	*p = (struct process){.pid = pid};
	return p;
}

/* Whether tid is a thread of the group tgid: signal 0 sends nothing, and
 * tgkill checks just that, for a system call where a lookup in /proc
 * costs five.  False too when signalling it is not permitted. */
static bool in_group(pid_t tgid, pid_t tid)
{
	return syscall(SYS_tgkill, (long)tgid, (long)tid, 0L) == 0;
}

pid_t watch_process_of(const struct watch *w, pid_t tid)
{
	/* Most often a new thread of a process known already, or a new
	 * process, which leads its own group. */
	for (size_t i = 0; i < w->nprocs; i++)
		if (in_group(w->procs[i].pid, tid))
			return w->procs[i].pid;
	if (in_group(tid, tid))
		return tid;
	/* A thread of a process not known yet, or one pyfault may not
	 * signal: its status says. */
	char path[64], line[128];
	long tgid = tid;
	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "Tgid: %ld", &tgid) == 1)
			break;
	if (f)
		fclose(f);
	return (pid_t)tgid;
}

struct tracee *watch_add_tracee(struct watch *w, pid_t tid, pid_t pid,
				bool started)
{
	struct tracee *t = watch_find_tracee(w, tid);
	if (t || !grow((void **)&w->tracees, w->ntracees, &w->tracees_cap,
		       sizeof *w->tracees))
		return t;
	t = &w->tracees[w->ntracees++];
	*t = (struct tracee){.tid = tid, .pid = pid, .started = started};
	return t;
}

void watch_remove_tracee(struct watch *w, pid_t tid)
{
	struct tracee *t = watch_find_tracee(w, tid);
	if (t == NULL)
		return;
	pid_t pid = t->pid;
	*t = w->tracees[--w->ntracees];
	for (size_t i = 0; i < w->ntracees; i++)
		if (w->tracees[i].pid == pid)
			return;
	struct process *p = watch_find_process(w, pid);
	if (p)
		*p = w->procs[--w->nprocs];
}

bool watch_traced_alive(pid_t tid)
{
	char path[64], line[128], state = 0;
	long tracer = 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "State: %c", &state) != 1)
			sscanf(line, "TracerPid: %ld", &tracer);
	fclose(f);
	return state != 'Z' && state != 'X' && state != 0 &&
	       tracer == (long)getpid();
}

void watch_note_new_tracee(struct watch *w, pid_t tid, int event)
{
	unsigned long new_tid;
	if ((event != PTRACE_EVENT_CLONE && event != PTRACE_EVENT_FORK &&
	     event != PTRACE_EVENT_VFORK) ||
	    ptrace(PTRACE_GETEVENTMSG, tid, NULL, &new_tid) != 0)
		return;
	/* Under load the new tracee's end can be reaped before its parent's
	 * event: kept, it would stay in the tables for good, and its id,
	 * free again, could be signalled (--exit) in another process.  One
	 * wait that consumes nothing tells, where reading its /proc status
	 * cost each short child tens of microseconds: ECHILD when it is no
	 * tracee of ours (reaped, or the id reused), its pid when it has
	 * ended and waits to be reaped. */
	siginfo_t info = {0};
	if (waitid(P_PID, (id_t)new_tid, &info,
		   WEXITED | WNOHANG | WNOWAIT | __WALL) != 0 ||
	    info.si_pid != 0)
		return;
	const struct tracee *parent = watch_find_tracee(w, tid);
	pid_t pid = event == PTRACE_EVENT_CLONE && parent ? parent->pid
							  : (pid_t)new_tid;
	watch_add_process(w, pid);
	watch_add_tracee(w, (pid_t)new_tid, pid, false);
}

void watch_thread_ended(struct watch *w, pid_t tid, int status)
{
	watch_remove_tracee(w, tid);
	if (tid == w->child) {
		w->finished = true;
		w->wait_status = status;
	}
}
