#include "proc_ctl.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>

#include "trace_refusal.h"

static bool is_held(const struct pf_stopped *s, pid_t tid)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->threads[i].tid == tid)
			return true;
	return false;
}

static int add_thread(struct pf_stopped *s, pid_t tid)
{
	if ((s->count & (s->count - 1)) == 0) {
		size_t cap = s->count ? s->count * 2 : 8;
		struct pf_thread *t = realloc(s->threads, cap * sizeof *t);
		if (t == NULL)
			return -ENOMEM;
		s->threads = t;
	}
	s->threads[s->count++] = (struct pf_thread){.tid = tid};
	return 0;
}

/* Waits until tid reports a ptrace-stop.  A signal-delivery-stop is
 * remembered and counts as stopped: the thread is held either way. */
static int wait_stopped(struct pf_thread *t)
{
	for (;;) {
		int status;
		pid_t r = waitpid(t->tid, &status, __WALL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status))
			return -ESRCH;
		if (!WIFSTOPPED(status))
			continue;
		int event = status >> 16;
		int sig = WSTOPSIG(status);
		if (event == 0 && sig != SIGTRAP)
			t->pending_signal = sig;
		return 0;
	}
}

static void read_pthread_id(struct pf_thread *t)
{
	struct user_regs_struct regs;
	if (ptrace(PTRACE_GETREGS, t->tid, NULL, &regs) == 0)
		t->pthread_id = regs.fs_base;
}

/* Seizes and interrupts one thread without waiting for it to stop, so
 * that all threads stop in parallel.  Returns 0, 1 when the thread vanished
 * first, or -errno. */
static int seize_thread(struct pf_stopped *s, pid_t tid)
{
	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) != 0)
		return errno == ESRCH ? 1 : -errno;
	int rc = add_thread(s, tid);
	if (rc != 0) {
		ptrace(PTRACE_DETACH, tid, NULL, NULL);
		return rc;
	}
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) != 0) {
		/* It exited between the seize and the interrupt. */
		s->count--;
		return 1;
	}
	return 0;
}

/* Waits until the threads from index first on have stopped, and forgets
 * those that exited meanwhile. */
static void wait_all_stopped(struct pf_stopped *s, size_t first)
{
	size_t kept = first;
	for (size_t i = first; i < s->count; i++) {
		struct pf_thread t = s->threads[i];
		if (wait_stopped(&t) != 0)
			continue;
		read_pthread_id(&t);
		s->threads[kept++] = t;
	}
	s->count = kept;
}

bool pf_proc_exited(pid_t pid)
{
	char path[64], state = 0;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return true;
	/* "PID (COMM) STATE ...": COMM may hold spaces and parentheses. */
	char line[512];
	if (fgets(line, sizeof line, f)) {
		char *close = strrchr(line, ')');
		if (close && close[1] == ' ')
			state = close[2];
	}
	fclose(f);
	return state == 'Z' || state == 'X' || state == 0;
}

pid_t pf_proc_ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t inner = pid;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		const char *last = strrchr(line, '\t');
		if (last && sscanf(last, "%d", &inner) != 1)
			inner = pid;
		break;
	}
	if (f)
		fclose(f);
	return inner;
}

/* A thread that has begun to exit cannot be seized (EPERM, as for a
 * forbidden one) but is still listed for a moment: it is no thread to
 * hold, not a refusal. */
static bool thread_exiting(pid_t pid, pid_t tid)
{
	char path[80], line[512], state = 0;
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid,
		 (int)tid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return true;
	if (fgets(line, sizeof line, f)) {
		char *close = strrchr(line, ')');
		if (close && close[1] == ' ')
			state = close[2];
	}
	fclose(f);
	return state == 'Z' || state == 'X' || state == 0;
}

/* One pass over /proc/PID/task.  Sets *added to the number of threads
 * newly held. */
static enum pf_status seize_listed(struct pf_stopped *s, size_t *added,
				   struct pf_error *err)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)s->pid);
	DIR *dir = opendir(path);
	if (dir == NULL)
		return pf_fail(err, PF_ERR_NO_PROCESS,
			       "process %d does not exist", (int)s->pid);
	size_t first_new = s->count;
	enum pf_status st = PF_OK;
	struct dirent *de;
	while (st == PF_OK && (de = readdir(dir)) != NULL) {
		pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
		if (tid <= 0 || is_held(s, tid))
			continue;
		int rc = seize_thread(s, tid);
		if (rc == -EPERM && thread_exiting(s->pid, tid))
			continue;
		if (rc == -EPERM)
			st = pf_trace_refusal(s->pid, err);
		else if (rc < 0)
			st = pf_fail(err, PF_ERR_INTERNAL,
				     "cannot trace thread %d of process %d: %s",
				     (int)tid, (int)s->pid, strerror(-rc));
	}
	closedir(dir);
	wait_all_stopped(s, first_new);
	*added = s->count - first_new;
	return st;
}

enum pf_status pf_proc_stop_all(struct pf_stopped *s, pid_t pid,
				struct pf_error *err)
{
	memset(s, 0, sizeof *s);
	s->pid = pid;
	enum pf_status st;
	size_t added;
	/* A thread held before it cloned cannot clone any more, so the list
	 * settles once a pass finds nobody new. */
	do
		st = seize_listed(s, &added, err);
	while (st == PF_OK && added > 0);
	if (st == PF_OK && s->count == 0)
		st = pf_fail(err, PF_ERR_NO_PROCESS,
			     "process %d has exited", (int)pid);
	if (st != PF_OK)
		pf_proc_resume_all(s);
	return st;
}

void pf_proc_resume_all(struct pf_stopped *s)
{
	for (size_t i = 0; i < s->count; i++) {
		const struct pf_thread *t = &s->threads[i];
		ptrace(PTRACE_DETACH, t->tid, NULL,
		       (void *)(long)t->pending_signal);
	}
	free(s->threads);
	s->threads = NULL;
	s->count = 0;
}

pid_t pf_proc_tid_of(const struct pf_stopped *s, uint64_t pthread_id)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->threads[i].pthread_id == pthread_id)
			return s->threads[i].tid;
	return 0;
}
