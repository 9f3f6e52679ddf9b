#include "watch/watch_dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include "dump/target_dump.h"
#include "dump/task_dump.h"
#include "format/dump_json.h"
#include "format/fh_format.h"
#include "format/status_format.h"
#include "native/native_stack.h"
#include "process/proc_ctl.h"
#include "process/remote_mem.h"
#include "walk/py_modules.h"
#include "walk/walker.h"
#include "watch/thread_hold.h"

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
	if (p->target_status == PF_OK &&
	    (wants_status(w->opt) ||
	     w->opt->common.native == PF_NATIVE_MERGED))
		pf_target_status_layout(&p->target);
	/* DWARF is read now, not while the program is held. */
	if (p->target_status == PF_OK && w->opt->common.locals)
		pf_target_modules_layout(&p->target);
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
		const char *hint = p->target_err.fix_given
					   ? NULL
					   : pf_status_hint(p->target_status);
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

void watch_prepare_target(struct watch *w, struct process *p)
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
		    watch_traced_alive(w->tracees[i].tid))
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
		if (!pf_format_tasks(w->out, &snap->tasks, opt->tasks))
			fprintf(stderr, "pyfault-watch: out of memory\n");
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

/* The list of the threads held, signal_tid (already stopped) last. */
static bool list_held(struct pf_stopped *stopped, pid_t pid,
		      const struct held *held, size_t nheld, pid_t signal_tid)
{
	*stopped = (struct pf_stopped){.pid = pid};
	stopped->threads = calloc(nheld + 1, sizeof *stopped->threads);
	if (stopped->threads == NULL)
		return false;
	for (size_t i = 0; i < nheld; i++)
		stopped->threads[stopped->count++] = (struct pf_thread){
			.tid = held[i].tid,
			.pthread_id = pthread_id_of(held[i].tid)};
	if (signal_tid)
		stopped->threads[stopped->count++] = (struct pf_thread){
			.tid = signal_tid, .pthread_id = pthread_id_of(signal_tid)};
	return true;
}

/* The Python side of the dump of held process p, and for a fatal error
 * the extension modules (3.10+). */
static enum pf_status walk_held(const struct watch *w, struct process *p,
				struct pf_mem *mem,
				const struct pf_dump_reason *reason,
				const struct pf_stopped *stopped,
				pid_t signal_tid, struct pf_snapshot *snap,
				struct pf_error *err)
{
	/* The thread that would run faulthandler's code: the one the signal
	 * is for, or where the timeout is a signal too (2.7's backport:
	 * SIGALRM), the main thread, which takes it as a rule. */
	pid_t dumper = signal_tid;
	uint64_t dumper_thread =
		signal_tid ? stopped->threads[stopped->count - 1].pthread_id : 0;
	if (reason->kind == PF_REASON_TIMEOUT &&
	    p->target.layout.timeout_by_alarm) {
		dumper = p->pid;
		dumper_thread = pthread_id_of(p->pid);
	}
	struct pf_walk_input in = {
		.pid = p->pid,
		.mem = mem,
		.layout = &p->target.layout,
		.runtime = p->target.runtime,
		.interp_head = p->target.interp_head,
		.tstate_current = p->target.tstate_current,
		.stopped = stopped,
		.current = dumper ? PF_CURRENT_THREAD
			   : reason->kind == PF_REASON_TIMEOUT
				   ? PF_CURRENT_NONE
				   : PF_CURRENT_GIL_HOLDER,
		.current_thread_id = dumper_thread,
		.dumper_tid = dumper,
		.collect_status = wants_status(w->opt),
		.main_interpreter_only = w->opt->common.main_interpreter_only,
		.locals_types = w->opt->common.locals
					? pf_locals_types("pyfault-watch",
							  &p->target)
					: NULL,
	};
	enum pf_status st = pf_walk(&in, snap, err);
	if (st != PF_OK)
		return st;
	if (wants_status(w->opt) || w->opt->common.native == PF_NATIVE_MERGED)
		pf_dump_python_names("pyfault-watch", mem, &p->target, snap);
	struct pf_error note = {0};
	if (reason->kind == PF_REASON_FATAL_SIGNAL &&
	    pf_read_extension_modules(mem, &p->target, snap->interp,
				      &snap->modules, &note) != PF_OK)
		fprintf(stderr, "pyfault-watch: %s\n", note.message);
	return PF_OK;
}

/* The C stacks of the view; without them the Python ones are still worth
 * printing. */
static void collect_native(struct pf_snapshot *snap, pid_t pid,
			   enum pf_native_view native,
			   struct pf_symbolizer **symbolizer)
{
	struct pf_error err = {0};
	if (native != PF_NATIVE_NONE &&
	    (native == PF_NATIVE_CURRENT
		     ? pf_collect_native_current(snap, pid, symbolizer, &err)
		     : pf_collect_native(snap, pid, symbolizer, &err)) != PF_OK)
		fprintf(stderr, "pyfault-watch: %s\n", err.message);
}

void watch_dump(struct watch *w, struct process *p,
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
	/* asyncio may have been imported since the last dump: looked for
	 * each time, before the threads are held. */
	struct pf_task_source task_source;
	char task_note[320] = "";
	if (w->opt->common.tasks != PF_TASKS_NONE)
		pf_task_source_find(&p->target, NULL, &mem, &task_source);
	struct held *held = calloc(w->ntracees + 1, sizeof *held);
	pid_t pid = p->pid;
	size_t nheld = held ? watch_hold_threads(w, pid, signal_tid, held) : 0;
	/* Holding the threads updates the tables, which may move p. */
	p = watch_find_process(w, pid);
	struct pf_stopped stopped = {0};
	struct pf_snapshot snap;
	struct pf_error err = {0};
	enum pf_status st = PF_ERR_EXITED;
	enum pf_native_view native = PF_NATIVE_NONE;
	struct pf_symbolizer *symbolizer = NULL;
	if (p && list_held(&stopped, pid, held, nheld, signal_tid)) {
		st = walk_held(w, p, &mem, reason, &stopped, signal_tid, &snap,
			       &err);
		native = pf_native_view_for(
			w->opt->common.native, &p->target.layout,
			reason->kind == PF_REASON_FATAL_SIGNAL);
		if (st == PF_OK)
			collect_native(&snap, pid, native, &symbolizer);
		if (st == PF_OK && w->opt->common.tasks != PF_TASKS_NONE &&
		    !pf_task_collect(&p->target, &mem, &task_source, &snap,
				     task_note, sizeof task_note))
			fprintf(stderr, "pyfault-watch: out of memory\n");
		if (st == PF_OK && w->opt->common.current_thread_only &&
		    !pf_task_keep_current(&snap))
			fprintf(stderr, "pyfault-watch: out of memory\n");
	} else if (p) {
		st = pf_fail(&err, PF_ERR_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < nheld; i++)
		watch_resume(held[i].tid, held[i].how, held[i].sig);
	free(held);
	free(stopped.threads);
	pf_mem_close(&mem);

	/* The threads' names (/proc), the C frames' names and the merged
	 * view's source lines, read once the threads run, as pyfault-attach
	 * does. */
	if (st == PF_OK && p->target.layout.thread_names)
		pf_read_thread_names(&snap, pid);
	if (st == PF_OK && symbolizer &&
	    (!pf_name_native_frames(symbolizer, &snap) ||
	     (native == PF_NATIVE_MERGED &&
	      !pf_add_source_lines(symbolizer, &snap, p->target.object_path))))
		fprintf(stderr, "pyfault-watch: out of memory\n");
	pf_symbolizer_close(symbolizer);
	if (st != PF_OK && (p == NULL || pf_proc_exited(pid)))
		report_exited(pid);
	else if (st != PF_OK)
		fprintf(stderr, "pyfault-watch: %s\n", err.message);
	if (st != PF_OK)
		return;
	if (w->opt->common.verbose && task_note[0] != '\0')
		fprintf(stderr, "pyfault-watch: %s\n", task_note);
	else if (w->opt->common.verbose &&
		 w->opt->common.tasks != PF_TASKS_NONE)
		pf_task_source_report(stderr, "pyfault-watch", &task_source);
	write_dump(w, p, reason, native, &snap);
	pf_snapshot_free(&snap);
}

void watch_dump_all(struct watch *w, enum pf_reason_kind kind)
{
	struct pf_dump_reason reason = {.kind = kind,
					.timeout_seconds = w->opt->timeout_s};
	/* A dump can see processes end and leave the table. */
	for (size_t i = 0; i < w->nprocs; i++) {
		pid_t pid = w->procs[i].pid;
		watch_dump(w, &w->procs[i], &reason, 0);
		if (i < w->nprocs && w->procs[i].pid != pid)
			i--;
	}
}
