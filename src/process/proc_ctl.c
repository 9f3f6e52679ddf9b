#include "process/proc_ctl.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>

#include "base/clock.h"
#include "process/trace_refusal.h"

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
	/* Failing, it ended between the seize and the interrupt: still
	 * traced, it is reaped with the others. */
	ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
	return 0;
}

/* The state letter of /proc/PID/task/TID/stat, or of /proc/PID/stat with
 * tid 0; 0 when the thread is gone. */
static char task_state(pid_t pid, pid_t tid)
{
	char path[80], line[512], state = 0;
	if (tid == 0)
		snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid,
			 (int)tid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return 0;
	/* "PID (COMM) STATE ...": COMM may hold spaces and parentheses. */
	if (fgets(line, sizeof line, f)) {
		char *close = strrchr(line, ')');
		if (close && close[1] == ' ')
			state = close[2];
	}
	fclose(f);
	return state;
}

static bool ended_state(char state)
{
	return state == 'Z' || state == 'X' || state == 0;
}

/* One look at a thread, without waiting. */
static void poll_thread(pid_t pid, struct pf_wait *w, bool until_reaped)
{
	if (w->ended && !w->unreaped)
		return;
	int status;
	pid_t r;
	do
		r = waitpid(w->tid, &status, __WALL | WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		/* ECHILD: no longer traced by the caller, nothing to reap. */
		*w = (struct pf_wait){.tid = w->tid, .reported = true,
				      .ended = true};
		return;
	}
	if (r == 0) {
		if (w->tid == pid && !w->ended &&
		    ended_state(task_state(pid, pid)))
			w->ended = w->unreaped = true;
		w->reported |= w->unreaped && !until_reaped;
		return;
	}
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		*w = (struct pf_wait){.tid = w->tid, .status = status,
				      .reported = true, .ended = true,
				      .reaped = true};
	} else if (!w->reported) {
		w->status = status;
		w->reported = true;
	}
}

size_t pf_proc_wait_threads(pid_t pid, struct pf_wait *list, size_t n,
			    bool until_reaped)
{
	double deadline = pf_now_ms() + PF_PROC_WAIT_MS;
	/* Each stop and end of a tracee sends its tracer SIGCHLD: waiting for
	 * it wakes the moment one comes, where a sleep is served whole, timer
	 * slack included.  The pause still bounds each wait, for a SIGCHLD
	 * that is ignored is never sent; threads stop within microseconds
	 * and end within milliseconds unless the machine is loaded. */
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &chld, &old);
	bool taken = false;
	long pause_ns = 20000;
	size_t pending;
	/* The threads that reported are looked at once more, on the first
	 * pass, for those that ended meanwhile; after it, only the others. */
	for (bool first = true;; first = false) {
		pending = 0;
		for (size_t i = 0; i < n; i++) {
			if (first || !list[i].reported)
				poll_thread(pid, &list[i], until_reaped);
			pending += !list[i].reported;
		}
		if (pending == 0 || pf_now_ms() >= deadline)
			break;
		struct timespec pause = {0, pause_ns};
		if (sigtimedwait(&chld, NULL, &pause) == SIGCHLD)
			taken = true;
		else if (pause_ns < 1000000)
			pause_ns *= 2;
	}
	/* A caller that blocks SIGCHLD reads it itself (pyfault-watch's
	 * signalfd): it must still find one. */
	if (taken && sigismember(&old, SIGCHLD))
		raise(SIGCHLD);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return pending;
}

/* Waits until the threads from index first on have stopped, and forgets
 * those that ended meanwhile; *added is the number of new ones held.  The
 * threads held before are polled too: one of them that ends must be
 * reaped for the leader's end to show. */
static enum pf_status wait_all_stopped(struct pf_stopped *s, size_t first,
				       size_t *added, struct pf_error *err)
{
	*added = 0;
	struct pf_wait *list = calloc(s->count + 1, sizeof *list);
	if (list == NULL)
		return pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < s->count; i++)
		list[i] = (struct pf_wait){.tid = s->threads[i].tid,
					   .reported = i < first};
	size_t late = pf_proc_wait_threads(s->pid, list, s->count, false);
	size_t kept = 0;
	pid_t late_tid = 0;
	for (size_t i = 0; i < s->count; i++) {
		struct pf_thread t = s->threads[i];
		const struct pf_wait *w = &list[i];
		s->leader_to_reap |= w->unreaped;
		/* One that never stopped cannot be detached: the kernel lets
		 * it go when pyfault exits. */
		if (!w->reported)
			late_tid = t.tid;
		if (w->ended || !w->reported)
			continue;
		if (i >= first) {
			int event = w->status >> 16, sig = WSTOPSIG(w->status);
			/* A signal-delivery-stop counts as stopped: the thread
			 * is held either way, its signal given back at
			 * detach. */
			if (event == 0 && sig != SIGTRAP)
				t.pending_signal = sig;
			++*added;
		}
		s->threads[kept++] = t;
	}
	s->count = kept;
	free(list);
	if (late == 0)
		return PF_OK;
	char state = task_state(s->pid, late_tid);
	return pf_fail(err, PF_ERR_INTERNAL,
		       "thread %d of process %d did not stop within %d s "
		       "(state %c%s): try again later",
		       (int)late_tid, (int)s->pid, PF_PROC_WAIT_MS / 1000,
		       state ? state : '?',
		       state == 'D' ? ", uninterruptible sleep" : "");
}

bool pf_proc_exited(pid_t pid)
{
	return ended_state(task_state(pid, 0));
}

enum pf_status pf_proc_exit_explains(pid_t pid, enum pf_status st,
				     struct pf_error *err)
{
	if (st == PF_OK || st == PF_ERR_NO_PROCESS || !pf_proc_exited(pid))
		return st;
	*err = (struct pf_error){0};
	return pf_fail(err, PF_ERR_EXITED,
		       "process %d exited while it was being read", (int)pid);
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
	return ended_state(task_state(pid, tid));
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
	/* A pass that held nobody new has nothing to wait for: the usual
	 * second pass, which only confirms the list. */
	*added = 0;
	if (s->count == first_new)
		return st;
	enum pf_status waited = wait_all_stopped(s, first_new, added, err);
	return st != PF_OK ? st : waited;
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

/* The calling thread's scheduling, as it was before raise_priority. */
struct sched_saved {
	int policy;
	struct sched_param param;
	bool raised;
};

/* A thread released onto pyfault's own CPU would preempt it at once (it
 * has slept, pyfault has run), and the next release would wait for it:
 * on a 2-CPU machine, a fifth of 51 threads, 15 us each.  At real-time
 * priority pyfault releases them all first, and they run when it drops
 * back.  Only from the normal policy (one who runs pyfault as batch or
 * idle work asked it to yield), only with the privilege (CAP_SYS_NICE or
 * RLIMIT_RTPRIO), and only without a limit on a real-time task's CPU time
 * (RLIMIT_RTTIME, whose SIGXCPU would kill pyfault amid the release of
 * many threads); otherwise nothing changes. */
static struct sched_saved raise_priority(void)
{
	struct sched_saved saved = {.policy = sched_getscheduler(0)};
	struct sched_param rt = {.sched_priority = 1};
	struct rlimit rttime;
	saved.raised = saved.policy == SCHED_OTHER &&
		       getrlimit(RLIMIT_RTTIME, &rttime) == 0 &&
		       rttime.rlim_cur == RLIM_INFINITY &&
		       sched_getparam(0, &saved.param) == 0 &&
		       sched_setscheduler(0, SCHED_FIFO, &rt) == 0;
	return saved;
}

static void restore_priority(const struct sched_saved *saved)
{
	if (saved->raised)
		sched_setscheduler(0, saved->policy, &saved->param);
}

void pf_proc_resume_all(struct pf_stopped *s)
{
	struct pf_wait *ended = calloc(s->count + 1, sizeof *ended);
	size_t n = 0;
	struct sched_saved saved = raise_priority();
	for (size_t i = 0; i < s->count; i++) {
		const struct pf_thread *t = &s->threads[i];
		/* It fails for a thread that SIGKILL took out of its stop:
		 * that thread is ending, and its tracer must reap it. */
		if (ptrace(PTRACE_DETACH, t->tid, NULL,
			   (void *)(long)t->pending_signal) != 0 &&
		    ended)
			ended[n++] = (struct pf_wait){.tid = t->tid};
	}
	restore_priority(&saved);
	if (s->leader_to_reap && ended)
		ended[n++] = (struct pf_wait){.tid = s->pid};
	if (n > 0)
		pf_proc_wait_threads(s->pid, ended, n, true);
	free(ended);
	free(s->threads);
	s->threads = NULL;
	s->count = 0;
	s->leader_to_reap = false;
}

void pf_proc_read_thread_ids(struct pf_stopped *s)
{
	for (size_t i = 0; i < s->count; i++) {
		struct user_regs_struct regs;
		if (ptrace(PTRACE_GETREGS, s->threads[i].tid, NULL, &regs) ==
		    0)
			s->threads[i].pthread_id = regs.fs_base;
	}
}

pid_t pf_proc_tid_of(const struct pf_stopped *s, uint64_t pthread_id)
{
	if (pthread_id == 0)
		return 0;
	for (size_t i = 0; i < s->count; i++)
		if (s->threads[i].pthread_id == pthread_id)
			return s->threads[i].tid;
	return 0;
}
