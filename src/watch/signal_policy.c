#include "watch/signal_policy.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <time.h>
#include <unistd.h>

#include "format/dump_reason.h"
#include "process/proc_ctl.h"
#include "watch/thread_hold.h"
#include "watch/watch_dump.h"

static bool is_fatal_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGFPE || sig == SIGABRT ||
	       sig == SIGBUS || sig == SIGILL;
}

/* Whether sig will kill pid: neither caught nor ignored.  A handler of
 * the program's own (in-process faulthandler, a crash reporter) runs first;
 * if it re-raises with the default action, that delivery is the one
 * dumped, so every crash gets exactly one dump from pyfault. */
static bool default_disposition(pid_t pid, int sig)
{
	char path[64], line[256];
	unsigned long long caught = 0, ignored = 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return false;
	while (fgets(line, sizeof line, f)) {
		sscanf(line, "SigIgn: %llx", &ignored);
		sscanf(line, "SigCgt: %llx", &caught);
	}
	fclose(f);
	unsigned long long bit = 1ull << (sig - 1);
	return !(caught & bit) && !(ignored & bit);
}

/* Whether the shell must see pyfault-watch stop with its program: when
 * pyfault-watch is a job of its terminal, every stop of a foreground job
 * (Ctrl-Z), and in the background the stop of a terminal read or write
 * (SIGTTIN, SIGTTOU), which the shell reports and ends with fg. */
static bool stop_shows_in_shell(int sig)
{
	int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool foreground = tcgetpgrp(fd) == getpgrp();
	close(fd);
	return foreground || sig == SIGTTIN || sig == SIGTTOU;
}

/* Stops pyfault-watch with the program's stop signal, which the signalfd
 * otherwise holds back, so the shell reports the same stop.  The
 * terminal sends Ctrl-Z's SIGTSTP and a background read's SIGTTIN to the
 * whole job, pyfault-watch included: its copy, when still pending, is
 * taken first, or unblocking would stop pyfault-watch on it and the raise
 * stop it once more after fg's SIGCONT. */
static void stop_like(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigtimedwait(&set, NULL, &(struct timespec){0, 0});
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	sigprocmask(SIG_BLOCK, &set, NULL);
}

/* The kernel keeps a traced init of a pid namespace alive through a fatal
 * signal: it drops the signal, and the fault repeats for ever.  Untraced,
 * it dies of it as it would have without pyfault-watch, so every thread of
 * it is let go, the one in signal-delivery-stop with its signal. */
static bool releases_dying_init(struct watch *w, pid_t pid, pid_t tid, int sig)
{
	if (pid == 1 || pf_proc_ns_pid(pid) != 1)
		return false;
	struct held *held = calloc(w->ntracees + 1, sizeof *held);
	size_t nheld = held ? watch_hold_threads(w, pid, tid, held) : 0;
	for (size_t i = 0; i < nheld; i++) {
		ptrace(PTRACE_DETACH, held[i].tid, NULL,
		       (void *)(long)held[i].sig);
		watch_remove_tracee(w, held[i].tid);
	}
	free(held);
	ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
	watch_remove_tracee(w, tid);
	return true;
}

void watch_signal_stop(struct watch *w, struct process *p, pid_t tid,
		       int sig)
{
	bool fatal = p && is_fatal_signal(sig) &&
		     default_disposition(p->pid, sig);
	bool asked = !fatal && p &&
		     (w->opt->dump_signals & (1ull << (sig - 1)));
	if (fatal || asked) {
		struct pf_dump_reason reason = {
			.kind = fatal ? PF_REASON_FATAL_SIGNAL
				      : PF_REASON_SIGNAL,
			.signo = sig,
		};
		siginfo_t info;
		if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &info) == 0)
			pf_reason_set_siginfo(&reason, &info);
		pid_t pid = p->pid;
		watch_dump(w, p, &reason, tid);
		if (fatal && releases_dying_init(w, pid, tid, sig))
			return;
		/* The dump may have seen threads end and the tables move. */
		p = watch_find_process(w, pid);
		if (asked && !w->opt->chain)
			sig = 0;
	}
	watch_resume(tid, watch_running(p), sig);
}

void watch_group_stop(struct watch *w, const struct process *p, pid_t tid,
		      int sig)
{
	ptrace(PTRACE_LISTEN, tid, NULL, NULL);
	/* The shell knows the job by pyfault-watch, which must stop too for
	 * the job to show as stopped; the shell's SIGCONT to the job wakes
	 * both. */
	if (p && tid == w->child && stop_shows_in_shell(sig))
		stop_like(sig);
}
