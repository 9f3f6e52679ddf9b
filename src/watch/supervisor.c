#include "watch/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "layout/py_target.h"
#include "process/loader_range.h"
#include "process/proc_ctl.h"
#include "process/trace_refusal.h"
#include "watch/signal_policy.h"
#include "watch/thread_hold.h"
#include "watch/watch_dump.h"
#include "watch/watch_tables.h"

/* Signals the watcher takes through its signalfd. */
static const int watched_signals[] = {
	SIGCHLD, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM,
	SIGTSTP, SIGTTIN, SIGTTOU,
};

static void signal_set(sigset_t *set)
{
	sigemptyset(set);
	for (size_t i = 0; i < sizeof watched_signals / sizeof *watched_signals;
	     i++)
		sigaddset(set, watched_signals[i]);
}

/* A new image: its interpreter is found at once when the program holds
 * it (a static python) or has no loader; otherwise once the dynamic loader
 * has mapped libpython, which its close() of that file tells, or any
 * system call from elsewhere (a program that links no libpython).
 * Stepping system calls, unlike a breakpoint, leaves nothing in the
 * program: a tracer that dies leaves at most a system-call-stop, which the
 * kernel ends as it detaches. */
static void new_image(struct watch *w, struct process *p, pid_t tid)
{
	p->target_tried = false;
	p->target_reported = false;
	p->loader = (struct pf_loader_range){0};
	/* Only the program itself: stepping every exec of a build that
	 * starts many short children would cost more than it saves, and a
	 * child running the same Python finds its offsets in the cache at
	 * its first dump. */
	if (p->pid == w->child) {
		watch_prepare_target(w, p);
		if (!p->target_tried)
			pf_loader_range_find(&p->loader, p->pid);
	}
	watch_resume(tid, watch_running(p), 0);
}

/* Whether the loader of p is done with what pyfault needs, as the system
 * call tid stopped at shows: the call comes from elsewhere, or it is the
 * loader's close() of the libpython it has just mapped. */
static bool loader_done(const struct process *p, pid_t tid)
{
	/* Zeroed: valgrind does not know that the kernel fills it. */
	struct __ptrace_syscall_info info = {0};
	if (ptrace(PTRACE_GET_SYSCALL_INFO, tid, (void *)sizeof info,
		   &info) <= 0) {
		/* A kernel before 5.3: the instruction pointer alone. */
		struct user_regs_struct regs;
		return ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0 ||
		       !pf_loader_range_holds(&p->loader, regs.rip);
	}
	if (!pf_loader_range_holds(&p->loader, info.instruction_pointer))
		return true;
	if (info.op != PTRACE_SYSCALL_INFO_ENTRY ||
	    info.entry.nr != SYS_close)
		return false;
	char link[64], path[4096];
	snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)tid,
		 (int)info.entry.args[0]);
	ssize_t n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		return false;
	path[n] = '\0';
	return pf_is_libpython(path);
}

static void loader_syscall(struct watch *w, struct process *p, pid_t tid)
{
	if (p && p->loader.end != 0 && loader_done(p, tid)) {
		p->loader = (struct pf_loader_range){0};
		watch_prepare_target(w, p);
	}
	watch_resume(tid, watch_running(p), 0);
}

static void handle_stop(struct watch *w, pid_t tid, int status)
{
	int sig = WSTOPSIG(status), event = status >> 16;
	struct tracee *t = watch_find_tracee(w, tid);
	if (t == NULL) {
		/* Seen before the event of the thread that made it. */
		pid_t pid = watch_process_of(w, tid);
		watch_add_process(w, pid);
		t = watch_add_tracee(w, tid, pid, false);
	}
	pid_t owner = t ? t->pid : 0;
	struct process *p = t ? watch_find_process(w, owner) : NULL;

	switch (event) {
	case 0:
		if (sig == SYSCALL_TRAP)
			loader_syscall(w, p, tid);
		else
			watch_signal_stop(w, p, tid, sig);
		return;
	case PTRACE_EVENT_STOP:
		if (t && !t->started) {
			/* A new thread's or process's first stop. */
			t->started = true;
			watch_resume(tid, watch_running(p), 0);
		} else if (watch_is_stop_signal(sig)) {
			watch_group_stop(w, p, tid, sig);
		} else {
			/* A late interrupt, or the end of a group-stop. */
			watch_resume(tid, watch_running(p), 0);
		}
		return;
	case PTRACE_EVENT_EXEC:
		if (p)
			new_image(w, p, tid);
		else
			ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	default:
		watch_note_new_tracee(w, tid, event);
		/* A new process or thread can move the tables p and t point
		 * into. */
		p = p ? watch_find_process(w, owner) : NULL;
	}
	watch_resume(tid, watch_running(p), 0);
}

static void reap(struct watch *w)
{
	int status;
	pid_t tid;
	while ((tid = waitpid(-1, &status, __WALL | WNOHANG)) > 0) {
		if (WIFSTOPPED(status))
			handle_stop(w, tid, status);
		else
			watch_thread_ended(w, tid, status);
	}
}

/* Starts the command, seizes it before it runs a single instruction of
 * its own, and lets it go: every instruction of the program, exec
 * included, runs under ptrace.  It waits on a pipe rather than stopping
 * itself, so that a watcher killed before the seize leaves it to read EOF
 * and exit instead of stopped for good. */
static enum pf_status launch(struct watch *w, const sigset_t *old_mask,
			     const struct sigaction *chld_was,
			     struct pf_error *err)
{
	int go[2];
	if (pipe2(go, O_CLOEXEC) != 0)
		return pf_fail(err, PF_ERR_INTERNAL, "cannot make a pipe: %s",
			       strerror(errno));
	pid_t pid = fork();
	if (pid < 0) {
		close(go[0]);
		close(go[1]);
		return pf_fail(err, PF_ERR_INTERNAL, "cannot fork: %s",
			       strerror(errno));
	}
	if (pid == 0) {
		sigaction(SIGCHLD, chld_was, NULL);
		sigprocmask(SIG_SETMASK, old_mask, NULL);
		close(go[1]);
		char byte;
		ssize_t n;
		do
			n = read(go[0], &byte, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1)
			_exit(EXIT_FAILURE);
		char *const *argv = w->opt->command;
		execvp(argv[0], argv);
		int e = errno;
		fprintf(stderr, "pyfault-watch: cannot run %s: %s\n", argv[0],
			strerror(e));
		/* As a shell reports it: 127 not found, 126 not runnable. */
		_exit(e == ENOENT || e == ENOTDIR ? 127 : 126);
	}
	close(go[0]);
	w->child = pid;
	long options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC |
		       PTRACE_O_TRACESYSGOOD;
	if (w->opt->follow)
		options |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
	if (ptrace(PTRACE_SEIZE, pid, NULL, (void *)options) != 0) {
		int e = errno;
		enum pf_status st =
			e == EPERM ? pf_trace_refusal(pid, err)
				   : pf_fail(err, PF_ERR_INTERNAL,
					     "cannot trace the command: %s",
					     strerror(e));
		kill(pid, SIGKILL);
		close(go[1]);
		struct pf_wait end = {.tid = pid};
		pf_proc_wait_threads(pid, &end, 1, true);
		return st;
	}
	watch_add_process(w, pid);
	watch_add_tracee(w, pid, pid, true);
	if (write(go[1], "g", 1) != 1) {
		int e = errno;
		kill(pid, SIGKILL);
		close(go[1]);
		return pf_fail(err, PF_ERR_INTERNAL,
			       "cannot start the command: %s", strerror(e));
	}
	close(go[1]);
	return PF_OK;
}

static int arm_timer(const struct watch_options *opt)
{
	if (opt->timeout_us == 0)
		return -1;
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
	struct timespec period = {
		.tv_sec = (time_t)(opt->timeout_us / 1000000),
		.tv_nsec = (long)(opt->timeout_us % 1000000) * 1000,
	};
	struct itimerspec spec = {.it_value = period};
	if (opt->repeat)
		spec.it_interval = period;
	if (fd >= 0)
		timerfd_settime(fd, 0, &spec, NULL);
	return fd;
}

/* A signal for the watcher: from the terminal the program got its own
 * copy; one sent to the watcher alone is passed on, except SIGUSR1, which
 * asks for a dump. */
static void handle_signal(struct watch *w, const struct signalfd_siginfo *si)
{
	if (si->ssi_signo == SIGCHLD) {
		reap(w);
		return;
	}
	bool from_kill = si->ssi_code == SI_USER || si->ssi_code == SI_QUEUE;
	if (!from_kill)
		return;
	if (si->ssi_signo == SIGUSR1)
		watch_dump_all(w, PF_REASON_REQUEST);
	else
		kill(w->child, (int)si->ssi_signo);
}

enum pf_status pf_watch_run(const struct watch_options *opt, FILE *out,
			    struct pf_watch_outcome *outcome,
			    struct pf_error *err)
{
	struct watch w = {.opt = opt, .out = out};
	/* Each stop and end of a tracee sends the watcher SIGCHLD, which it
	 * waits for.  Ignored, as a daemon may leave it to what it starts,
	 * none is sent and the kernel reaps the program itself: the watcher
	 * would wait for ever.  The program gets it back as it was. */
	struct sigaction chld_was;
	sigaction(SIGCHLD, &(struct sigaction){.sa_handler = SIG_DFL},
		  &chld_was);
	sigset_t set, old_mask;
	signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, &old_mask);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	enum pf_status st = sigfd < 0 ? pf_fail(err, PF_ERR_INTERNAL,
						 "signalfd: %s",
						 strerror(errno))
				      : launch(&w, &old_mask, &chld_was, err);
	int timerfd = st == PF_OK ? arm_timer(opt) : -1;

	while (st == PF_OK && !w.finished) {
		struct pollfd fds[2] = {{.fd = sigfd, .events = POLLIN},
					{.fd = timerfd, .events = POLLIN}};
		if (poll(fds, timerfd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			st = pf_fail(err, PF_ERR_INTERNAL, "poll: %s",
				     strerror(errno));
			break;
		}
		struct signalfd_siginfo si;
		if ((fds[0].revents & POLLIN) &&
		    read(sigfd, &si, sizeof si) == sizeof si)
			handle_signal(&w, &si);
		uint64_t expirations;
		if (!w.finished && timerfd >= 0 && (fds[1].revents & POLLIN) &&
		    read(timerfd, &expirations, sizeof expirations) > 0) {
			watch_dump_all(&w, PF_REASON_TIMEOUT);
			if (opt->exit_after_timeout) {
				/* The whole watched tree, as faulthandler's
				 * exit=True ends its process. */
				for (size_t i = 0; i < w.nprocs; i++)
					kill(w.procs[i].pid, SIGKILL);
				outcome->killed_on_timeout = true;
			}
		}
		/* SIGCHLD may have been merged with one read before. */
		reap(&w);
	}
	outcome->wait_status = w.wait_status;
	if (timerfd >= 0)
		close(timerfd);
	if (sigfd >= 0)
		close(sigfd);
	free(w.tracees);
	free(w.procs);
	return st;
}
