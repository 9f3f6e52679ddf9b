#include "watch/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "format/dump_json.h"
#include "format/dump_reason.h"
#include "format/fh_format.h"
#include "process/loader_range.h"
#include "native/native_stack.h"
#include "process/proc_ctl.h"
#include "walk/py_modules.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"
#include "format/status_format.h"
#include "dump/target_dump.h"
#include "process/trace_refusal.h"
#include "walk/walker.h"

/* What a thread was doing when it stopped, to be given back on resume. */
enum resume_how { RESUME_CONT, RESUME_SYSCALL, RESUME_LISTEN };

/* A system-call-stop, as PTRACE_O_TRACESYSGOOD marks it apart from a real
 * SIGTRAP. */
#define SYSCALL_TRAP (SIGTRAP | 0x80)

struct tracee {
	pid_t tid;
	pid_t pid;             /* its process (thread group) */
	bool started;          /* its auto-attach stop has been seen */
};

/* A watched process and what is known of its interpreter, found after
 * each exec once the dynamic loader has mapped the program's libraries
 * (libpython then), or else on its first dump. */
struct process {
	pid_t pid;
	/* The loader of a new image, while its system calls are stepped
	 * through; all 0 otherwise. */
	struct pf_loader_range loader;
	bool target_tried;
	bool target_reported;  /* its error or -v line has been printed */
	enum pf_status target_status;
	struct pf_error target_err;
	struct pf_target target;
};

struct watch {
	const struct watch_options *opt;
	FILE *out;
	pid_t child;           /* the program pyfault-watch started */
	struct tracee *tracees;
	size_t ntracees, tracees_cap;
	struct process *procs;
	size_t nprocs, procs_cap;
	bool finished;
	int wait_status;
	pid_t dumped;          /* the process of the last dump written, or 0 */
	bool headers;          /* dumps start with "Process PID:" from now on */
};

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

static struct tracee *find_tracee(struct watch *w, pid_t tid)
{
	for (size_t i = 0; i < w->ntracees; i++)
		if (w->tracees[i].tid == tid)
			return &w->tracees[i];
	return NULL;
}

static struct process *find_process(struct watch *w, pid_t pid)
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

static struct process *add_process(struct watch *w, pid_t pid)
{
	struct process *p = find_process(w, pid);
	if (p || !grow((void **)&w->procs, w->nprocs, &w->procs_cap,
		       sizeof *w->procs))
		return p;
	p = &w->procs[w->nprocs++];
	*p = (struct process){.pid = pid};
	return p;
}

/* The thread group of a thread seen before its creator's event. */
static pid_t process_of(pid_t tid)
{
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

static struct tracee *add_tracee(struct watch *w, pid_t tid, pid_t pid,
				 bool started)
{
	struct tracee *t = find_tracee(w, tid);
	if (t || !grow((void **)&w->tracees, w->ntracees, &w->tracees_cap,
		       sizeof *w->tracees))
		return t;
	t = &w->tracees[w->ntracees++];
	*t = (struct tracee){.tid = tid, .pid = pid, .started = started};
	return t;
}

/* Forgets a thread, and its process with its last thread. */
static void remove_tracee(struct watch *w, pid_t tid)
{
	struct tracee *t = find_tracee(w, tid);
	if (t == NULL)
		return;
	pid_t pid = t->pid;
	*t = w->tracees[--w->ntracees];
	for (size_t i = 0; i < w->ntracees; i++)
		if (w->tracees[i].pid == pid)
			return;
	struct process *p = find_process(w, pid);
	if (p)
		*p = w->procs[--w->nprocs];
}

static bool is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
	       sig == SIGTTOU;
}

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

/* Puts the thread into the state it reported: running, or held in a
 * group-stop that only SIGCONT may end. */
static void resume(pid_t tid, enum resume_how how, int sig)
{
	if (how == RESUME_LISTEN)
		ptrace(PTRACE_LISTEN, tid, NULL, NULL);
	else
		ptrace(how == RESUME_SYSCALL ? PTRACE_SYSCALL : PTRACE_CONT,
		       tid, NULL, (void *)(long)sig);
}

/* How a thread of p runs on: to its next system call while the loader
 * starts p's new image, else freely. */
static enum resume_how running(const struct process *p)
{
	return p && p->loader.end != 0 ? RESUME_SYSCALL : RESUME_CONT;
}

struct held {
	pid_t tid;
	enum resume_how how;
	int sig;
};

/* Whether thread tid is alive and still traced by this watcher: neither a
 * zombie nor a recycled id. */
static bool traced_alive(pid_t tid)
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

/* A clone, fork or vfork event: the new thread or process is traced from
 * its first instruction and reports its first stop on its own. */
static void note_new_tracee(struct watch *w, pid_t tid, int event)
{
	unsigned long new_tid;
	if ((event != PTRACE_EVENT_CLONE && event != PTRACE_EVENT_FORK &&
	     event != PTRACE_EVENT_VFORK) ||
	    ptrace(PTRACE_GETEVENTMSG, tid, NULL, &new_tid) != 0)
		return;
	/* Under load the new tracee's end can be reaped before its parent's
	 * event: kept, it would stay in the tables for good, and its id,
	 * free again, could be signalled (--exit) in another process. */
	if (!traced_alive((pid_t)new_tid))
		return;
	const struct tracee *parent = find_tracee(w, tid);
	pid_t pid = event == PTRACE_EVENT_CLONE && parent ? parent->pid
							  : (pid_t)new_tid;
	add_process(w, pid);
	add_tracee(w, (pid_t)new_tid, pid, false);
}

/* A traced thread whose end was reaped: forgotten, with the program's
 * status when it is the program's. */
static void thread_ended(struct watch *w, pid_t tid, int status)
{
	remove_tracee(w, tid);
	if (tid == w->child) {
		w->finished = true;
		w->wait_status = status;
	}
}

/* Interrupts every running thread of process pid and waits until each has
 * stopped (a new thread reports its first stop by itself); what each
 * reported instead of the interrupt is kept so resume() gives it back.
 * Threads that end meanwhile, already_stopped too, are reaped, which the
 * leader's end waits for.  A thread that neither stops nor ends in time is
 * not held; handle_stop() takes its stop as a late interrupt.  Returns the
 * number of threads held, already_stopped not counted. */
static size_t hold_threads(struct watch *w, pid_t pid, pid_t already_stopped,
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
				thread_ended(w, e->tid, e->status);
			else
				remove_tracee(w, e->tid);
			continue;
		}
		/* An ended leader stays known until its end is reaped. */
		if (e->ended || !e->reported || e->tid == already_stopped)
			continue;
		struct tracee *t = find_tracee(w, e->tid);
		if (t)
			t->started = true;
		struct held h = {.tid = e->tid};
		int sig = WSTOPSIG(e->status), event = e->status >> 16;
		struct process *p = find_process(w, pid);
		h.how = running(p);
		if (event == PTRACE_EVENT_STOP && is_stop_signal(sig))
			h.how = RESUME_LISTEN;
		else if (event == 0 && sig != SYSCALL_TRAP)
			h.sig = sig;
		else if (event != 0)
			note_new_tracee(w, h.tid, event);
		held[kept++] = h;
	}
	free(list);
	return kept;
}

static uint64_t pthread_id_of(pid_t tid)
{
	struct user_regs_struct regs;
	return ptrace(PTRACE_GETREGS, tid, NULL, &regs) == 0 ? regs.fs_base
							    : 0;
}

/* The thread status is collected for --status and for JSON. */
static bool wants_status(const struct watch_options *opt)
{
	return opt->common.status || opt->common.format == PF_FORMAT_JSON;
}

static void open_target(struct watch *w, struct process *p,
			struct pf_mem *mem)
{
	const struct pf_offsets_config config = {
		.sources = PF_SOURCES_ALL,
		.debuginfo_path = w->opt->common.debuginfo_path,
		.no_cache = w->opt->common.no_cache,
	};
	p->target_err = (struct pf_error){0};
	p->target_tried = true;
	p->target_status = pf_target_open(&p->target, p->pid, mem, &config,
					  &p->target_err);
	if (p->target_status == PF_OK && wants_status(w->opt))
		pf_target_status_layout(&p->target);
}

static void report_target(struct watch *w, struct process *p)
{
	const struct pf_target *t = &p->target;
	/* Only the program itself is worth a message when it is not Python:
	 * children that are not (a shell, a compiler) are followed
	 * silently. */
	bool quiet = p->pid != w->child &&
		     p->target_status == PF_ERR_NOT_PYTHON;
	p->target_reported = true;
	if (p->target_status == PF_OK && t->warning[0])
		fprintf(stderr, "pyfault-watch: warning: %s\n", t->warning);
	if (p->target_status != PF_OK && !quiet) {
		const char *hint = pf_status_hint(p->target_status);
		fprintf(stderr, "pyfault-watch: %s%s%s\n", p->target_err.message,
			hint ? ": " : "", hint ? hint : "");
	} else if (p->target_status == PF_OK && w->opt->common.verbose) {
		char note[4400];
		fprintf(stderr,
			"pyfault-watch: process %d: Python %u.%u in %s%s, "
			"offsets from %s (%s) in %.3f ms\n",
			(int)p->pid, t->major, t->minor, t->object_path,
			pf_target_file_note(&t->file, note, sizeof note),
			pf_layout_source_name(t->layout.source),
			t->layout.source_detail, t->offsets_ms);
		if (t->cache_note[0] != '\0')
			fprintf(stderr, "pyfault-watch: %s\n", t->cache_note);
	}
}

/* A program just exec'd, before any of its Python runs: its interpreter
 * and offsets are found now, so that a crash dump never waits on DWARF.
 * Only success is kept: a program may still load libpython itself
 * later. */
static void prepare_target(struct watch *w, struct process *p)
{
	if (p->target_tried && p->target_status == PF_OK)
		return;  /* a dump during the loader's work found it */
	struct pf_mem mem;
	if (pf_mem_open_live(&mem, p->pid) != 0)
		return;
	open_target(w, p, &mem);
	pf_mem_close(&mem);
	if (p->target_status != PF_OK) {
		p->target_tried = false;
		return;
	}
	/* 3.13's debug offsets lack what the "Extension modules" line needs:
	 * that comes from DWARF too. */
	pf_target_modules_layout(&p->target);
	report_target(w, p);
}

/* Whether p runs a Python pyfault can read. */
static bool know_target(struct watch *w, struct process *p,
			struct pf_mem *mem)
{
	if (!p->target_tried)
		open_target(w, p, mem);
	if (!p->target_reported)
		report_target(w, p);
	return p->target_status == PF_OK;
}

/* Whether a process of the tree other than pid is alive now.  The tables
 * cannot tell: they keep a child whose exit is still to be reaped, and get
 * back one whose exit was reaped before its parent's fork event (newer
 * tracees are reported first). */
static bool other_process_alive(struct watch *w, pid_t pid)
{
	for (size_t i = 0; i < w->ntracees; i++)
		if (w->tracees[i].pid != pid &&
		    traced_alive(w->tracees[i].tid))
			return true;
	return false;
}

/* The dump of process p in the chosen format. */
static void write_dump(struct watch *w, struct process *p,
		       const struct pf_dump_reason *reason,
		       enum pf_native_view native,
		       const struct pf_snapshot *snap)
{
	const struct pf_cli_common *opt = &w->opt->common;
	bool only_current = opt->current_thread_only;
	bool has_current =
		!only_current || pf_snapshot_current_python(snap) != NULL;
	if (opt->format == PF_FORMAT_JSON) {
		char exe[4096];
		struct pf_json_process process;
		pf_json_process_of(&p->target, exe, sizeof exe, &process);
		/* The threads of the text dump. */
		bool json_current_only =
			reason->kind == PF_REASON_FATAL_SIGNAL
				? pf_fatal_current_only(&p->target, snap,
							only_current)
				: only_current;
		if (!pf_write_json(w->out, "pyfault-watch", &process, reason,
				   snap, json_current_only))
			fprintf(stderr, "pyfault-watch: cannot write the JSON "
					"document\n");
	} else {
		/* Several processes share the output: say whose dump this
		 * is, and go on saying it. */
		w->headers = w->headers || (w->dumped && w->dumped != p->pid) ||
			     other_process_alive(w, p->pid);
		w->dumped = p->pid;
		if (w->headers)
			fprintf(w->out, "Process %d:\n", (int)p->pid);
		struct pf_style style = pf_style_of(&p->target.layout);
		if (reason->kind == PF_REASON_FATAL_SIGNAL)
			pf_format_fatal_header(w->out, reason->signo, &style);
		else if (reason->kind == PF_REASON_TIMEOUT)
			pf_format_timeout_header(w->out, w->opt->timeout_s,
						 p->target.layout.timeout_text);
		if (opt->status && has_current)
			pf_format_status(w->out, snap, only_current);
		if (reason->kind == PF_REASON_FATAL_SIGNAL)
			pf_write_fatal_threads(w->out, &p->target, snap,
					       only_current, native);
		else
			pf_write_threads(w->out, &p->target, snap,
					 only_current, native);
	}
	if (!has_current)
		fprintf(stderr,
			"pyfault-watch: process %d: no current thread to "
			"dump\n",
			(int)p->pid);
	fflush(w->out);
}

/* Whatever failed in a dump, a process that ended meanwhile explains it
 * best: its memory and files vanish at any step. */
static void report_exited(pid_t pid)
{
	fprintf(stderr, "pyfault-watch: process %d exited during the dump\n",
		(int)pid);
}

/* Stops process p, writes the dump for the reason, and lets it go on.
 * signal_tid is the thread in signal-delivery-stop for reason->signo
 * (fatal or --signal): it is the current thread, and stays stopped for the
 * caller to deliver the signal or not. */
static void dump(struct watch *w, struct process *p,
		 const struct pf_dump_reason *reason, pid_t signal_tid)
{
	struct pf_mem mem;
	if (pf_mem_open_live(&mem, p->pid) != 0)
		return;
	if (!know_target(w, p, &mem)) {
		pf_mem_close(&mem);
		return;
	}
	/* The fault details, for which faulthandler's text has no room, go
	 * with the other -v details. */
	if (w->opt->common.verbose && reason->kind == PF_REASON_FATAL_SIGNAL) {
		fprintf(stderr, "pyfault-watch: process %d: ", (int)p->pid);
		pf_format_signal_details(stderr, reason);
		fputc('\n', stderr);
	}
	struct held *held = calloc(w->ntracees + 1, sizeof *held);
	pid_t pid = p->pid;
	size_t nheld = held ? hold_threads(w, pid, signal_tid, held) : 0;
	/* Holding the threads updates the tables, which may move p. */
	p = find_process(w, pid);
	if (p == NULL) {
		for (size_t i = 0; i < nheld; i++)
			resume(held[i].tid, held[i].how, held[i].sig);
		free(held);
		pf_mem_close(&mem);
		report_exited(pid);
		return;
	}

	struct pf_stopped stopped = {.pid = p->pid};
	stopped.threads = calloc(nheld + 1, sizeof *stopped.threads);
	for (size_t i = 0; stopped.threads && i < nheld; i++)
		stopped.threads[stopped.count++] = (struct pf_thread){
			.tid = held[i].tid,
			.pthread_id = pthread_id_of(held[i].tid)};
	uint64_t signal_thread = 0;
	if (stopped.threads && signal_tid) {
		signal_thread = pthread_id_of(signal_tid);
		stopped.threads[stopped.count++] = (struct pf_thread){
			.tid = signal_tid, .pthread_id = signal_thread};
	}

	/* The thread that would run faulthandler's code: the one the signal
	 * is for, or where the timeout is a signal too (2.7's backport:
	 * SIGALRM), the main thread, which takes it as a rule. */
	pid_t dumper = signal_tid;
	uint64_t dumper_thread = signal_thread;
	if (reason->kind == PF_REASON_TIMEOUT &&
	    p->target.layout.timeout_by_alarm) {
		dumper = p->pid;
		dumper_thread = pthread_id_of(p->pid);
	}
	struct pf_walk_input in = {
		.pid = p->pid,
		.mem = &mem,
		.layout = &p->target.layout,
		.runtime = p->target.runtime,
		.interp_head = p->target.interp_head,
		.tstate_current = p->target.tstate_current,
		.stopped = &stopped,
		.current = dumper ? PF_CURRENT_THREAD
			   : reason->kind == PF_REASON_TIMEOUT
				   ? PF_CURRENT_NONE
				   : PF_CURRENT_GIL_HOLDER,
		.current_thread_id = dumper_thread,
		.dumper_tid = dumper,
		.collect_status = wants_status(w->opt),
	};
	struct pf_snapshot snap;
	struct pf_error err = {0};
	enum pf_status st = pf_walk(&in, &snap, &err);
	if (st == PF_OK && p->target.layout.thread_names)
		pf_read_thread_names(&snap, p->pid);
	/* A fatal error ends with the extension modules (3.10+). */
	struct pf_error note = {0};
	if (st == PF_OK && reason->kind == PF_REASON_FATAL_SIGNAL &&
	    pf_read_extension_modules(&mem, &p->target, snap.interp,
				      &snap.modules, &note) != PF_OK)
		fprintf(stderr, "pyfault-watch: %s\n", note.message);
	enum pf_native_view native = pf_native_view_for(
		w->opt->common.native, &p->target.layout,
		reason->kind == PF_REASON_FATAL_SIGNAL);
	/* Without C stacks the Python ones are still worth printing. */
	struct pf_error native_err = {0};
	struct pf_symbolizer *symbolizer = NULL;
	if (st == PF_OK && native != PF_NATIVE_NONE &&
	    (native == PF_NATIVE_CURRENT
		     ? pf_collect_native_current(&snap, p->pid, &symbolizer,
						 &native_err)
		     : pf_collect_native(&snap, p->pid, &symbolizer,
					 &native_err)) != PF_OK)
		fprintf(stderr, "pyfault-watch: %s\n", native_err.message);

	for (size_t i = 0; i < nheld; i++)
		resume(held[i].tid, held[i].how, held[i].sig);
	free(held);
	free(stopped.threads);
	pf_mem_close(&mem);

	/* The merged view's source lines, read once the threads run. */
	if (st == PF_OK && symbolizer && native == PF_NATIVE_MERGED &&
	    !pf_add_source_lines(symbolizer, &snap, p->target.object_path))
		fprintf(stderr, "pyfault-watch: out of memory\n");
	pf_symbolizer_close(symbolizer);
	if (st != PF_OK && pf_proc_exited(pid))
		report_exited(pid);
	else if (st != PF_OK)
		fprintf(stderr, "pyfault-watch: %s\n", err.message);
	if (st != PF_OK)
		return;
	write_dump(w, p, reason, native, &snap);
	pf_snapshot_free(&snap);
}

/* Every Python process, for a timeout or a request. */
static void dump_all(struct watch *w, enum pf_reason_kind kind)
{
	struct pf_dump_reason reason = {.kind = kind,
					.timeout_seconds = w->opt->timeout_s};
	/* A dump can see processes end and leave the table. */
	for (size_t i = 0; i < w->nprocs; i++) {
		pid_t pid = w->procs[i].pid;
		dump(w, &w->procs[i], &reason, 0);
		if (i < w->nprocs && w->procs[i].pid != pid)
			i--;
	}
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
 * otherwise holds back, so the shell reports the same stop. */
static void stop_like(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
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
	size_t nheld = held ? hold_threads(w, pid, tid, held) : 0;
	for (size_t i = 0; i < nheld; i++) {
		ptrace(PTRACE_DETACH, held[i].tid, NULL,
		       (void *)(long)held[i].sig);
		remove_tracee(w, held[i].tid);
	}
	free(held);
	ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
	remove_tracee(w, tid);
	return true;
}

/* A signal-delivery-stop: the signal goes on unchanged, after a dump when
 * it is fatal and about to kill, or one pyfault-watch was asked to dump
 * on (swallowed then, unless --chain). */
static void signal_stop(struct watch *w, struct process *p, pid_t tid,
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
		dump(w, p, &reason, tid);
		if (fatal && releases_dying_init(w, pid, tid, sig))
			return;
		/* The dump may have seen threads end and the tables move. */
		p = find_process(w, pid);
		if (asked && !w->opt->chain)
			sig = 0;
	}
	resume(tid, running(p), sig);
}

/* A new image: its interpreter is found once the dynamic loader has mapped
 * the libraries, which its first system call from elsewhere tells, or at
 * once without a loader (a static program).  Stepping system calls, unlike
 * a breakpoint, leaves nothing in the program: a tracer that dies leaves at
 * most a system-call-stop, which the kernel ends as it detaches. */
static void new_image(struct watch *w, struct process *p, pid_t tid)
{
	p->target_tried = false;
	p->target_reported = false;
	/* Only the program itself: stepping every exec of a build that
	 * starts many short children would cost more than it saves, and a
	 * child running the same Python finds its offsets in the cache at
	 * its first dump. */
	if (p->pid == w->child && !pf_loader_range_find(&p->loader, p->pid))
		prepare_target(w, p);
	resume(tid, running(p), 0);
}

static void loader_syscall(struct watch *w, struct process *p, pid_t tid)
{
	struct user_regs_struct regs;
	if (p && p->loader.end != 0 &&
	    (ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0 ||
	     !pf_loader_range_holds(&p->loader, regs.rip))) {
		p->loader = (struct pf_loader_range){0};
		prepare_target(w, p);
	}
	resume(tid, running(p), 0);
}

static void handle_stop(struct watch *w, pid_t tid, int status)
{
	int sig = WSTOPSIG(status), event = status >> 16;
	struct tracee *t = find_tracee(w, tid);
	if (t == NULL) {
		/* Seen before the event of the thread that made it. */
		pid_t pid = process_of(tid);
		add_process(w, pid);
		t = add_tracee(w, tid, pid, false);
	}
	pid_t owner = t ? t->pid : 0;
	struct process *p = t ? find_process(w, owner) : NULL;

	switch (event) {
	case 0:
		if (sig == SYSCALL_TRAP)
			loader_syscall(w, p, tid);
		else
			signal_stop(w, p, tid, sig);
		return;
	case PTRACE_EVENT_STOP:
		if (t && !t->started) {
			/* A new thread's or process's first stop. */
			t->started = true;
			resume(tid, running(p), 0);
		} else if (is_stop_signal(sig)) {
			/* Group-stop: stay stopped until SIGCONT. */
			ptrace(PTRACE_LISTEN, tid, NULL, NULL);
			/* The shell knows the job by pyfault-watch, which
			 * must stop too for the job to show as stopped; the
			 * shell's SIGCONT to the job wakes both. */
			if (p && tid == w->child && stop_shows_in_shell(sig))
				stop_like(sig);
		} else {
			/* A late interrupt, or the end of a group-stop. */
			resume(tid, running(p), 0);
		}
		return;
	case PTRACE_EVENT_EXEC:
		if (p)
			new_image(w, p, tid);
		else
			ptrace(PTRACE_CONT, tid, NULL, NULL);
		return;
	default:
		note_new_tracee(w, tid, event);
		/* A new process or thread can move the tables p and t point
		 * into. */
		p = p ? find_process(w, owner) : NULL;
	}
	resume(tid, running(p), 0);
}

static void reap(struct watch *w)
{
	int status;
	pid_t tid;
	while ((tid = waitpid(-1, &status, __WALL | WNOHANG)) > 0) {
		if (WIFSTOPPED(status))
			handle_stop(w, tid, status);
		else
			thread_ended(w, tid, status);
	}
}

/* Starts the command, seizes it before it runs a single instruction of
 * its own, and lets it go: every instruction of the program, exec
 * included, runs under ptrace.  It waits on a pipe rather than stopping
 * itself, so that a watcher killed before the seize leaves it to read EOF
 * and exit instead of stopped for good. */
static enum pf_status launch(struct watch *w, const sigset_t *old_mask,
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
	add_process(w, pid);
	add_tracee(w, pid, pid, true);
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
		dump_all(w, PF_REASON_REQUEST);
	else
		kill(w->child, (int)si->ssi_signo);
}

enum pf_status pf_watch_run(const struct watch_options *opt, FILE *out,
			    struct pf_watch_outcome *outcome,
			    struct pf_error *err)
{
	struct watch w = {.opt = opt, .out = out};
	sigset_t set, old_mask;
	signal_set(&set);
	sigprocmask(SIG_BLOCK, &set, &old_mask);
	int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	enum pf_status st = sigfd < 0 ? pf_fail(err, PF_ERR_INTERNAL,
						 "signalfd: %s",
						 strerror(errno))
				      : launch(&w, &old_mask, err);
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
			dump_all(&w, PF_REASON_TIMEOUT);
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
