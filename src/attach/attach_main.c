/* pyfault-attach: dump every thread's Python traceback of running processes,
 * as faulthandler would print it, and leave them as they were. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach/attach_options.h"
#include "base/clock.h"
#include "base/errors.h"
#include "native/native_stack.h"
#include "native/unwind_lib.h"
#include "process/proc_ctl.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"
#include "format/status_format.h"
#include "dump/target_dump.h"
#include "dump/task_dump.h"
#include "process/trace_refusal.h"
#include "walk/walker.h"

static const char usage_text[] =
	"Usage: pyfault-attach [OPTION]... PID...\n"
	"Print each thread's Python traceback of the running CPython process PID as\n"
	"faulthandler would, and leave the process running as it was.\n"
	"\n"
	"  -o, --output=FILE       append the dumps to FILE, not stdout\n"
	"      --current-thread-only  only the thread that holds the GIL\n"
	"      --main-interpreter-only  no subinterpreter's threads (faulthandler's)\n"
	"      --locals            each frame's local variables under it\n"
	"      --native[=merged]   add each thread's C stack (merged: into one stack)\n"
	"      --no-native         no C stack (the default)\n"
	"      --status            a line per thread first: id, name, GIL, system call\n"
	"      --format=FORMAT     text (faulthandler's) or json (a line per process)\n"
	"      --tasks[=tree]      then every asyncio task and its await chain (3.11+)\n"
	"  -v, --verbose           Python version, offsets source, time held on stderr\n"
	"      --offsets=SOURCE    debug-offsets, dwarf, table or auto (the default)\n"
	"      --debuginfo-path=PATH  where separate debug files are (as eu-stack)\n"
	"      --no-cache          neither read nor write the offset cache\n"
	"      --help, --version   show this help, or the version, and exit\n"
	"\n"
	"Exit status: 0 dumped, 1 error, 2 usage, 3 no such process, 4 permission\n"
	"denied, 5 not Python, 6 unsupported version, 7 no offsets, 8 target exited,\n"
	"9 unreadable state, 10 starting or finalizing, 11 already traced, 12 yama\n"
	"ptrace_scope, 13 changed IDs, 14 interpreter file replaced.\n"
	"Example: pyfault-attach $(pgrep -f myserver).  Manual: man pyfault-attach\n";

/* Signals that would kill or stop pyfault are held back while the target
 * is stopped, so that it is always released first; they act right after
 * (SIGKILL and SIGSTOP cannot be held: the kernel detaches a dead tracer's
 * threads itself, and a stopped pyfault holds the target until SIGCONT). */
static void hold_fatal_signals(bool hold)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGPIPE);
	sigaddset(&set, SIGTSTP);
	sigaddset(&set, SIGTTIN);
	sigaddset(&set, SIGTTOU);
	sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* How long the target was held, the parts spent stopping it and reading
 * its C stacks and tasks, and the reads of its memory made meanwhile. */
struct hold_times {
	double stopping_ms, native_ms, tasks_ms, stopped_ms;
	unsigned long reads;
};

/* What --tasks asked for: where the tasks are, and the -v note when the
 * section is left out. */
struct task_request {
	const struct pf_task_source *source;   /* NULL without --tasks */
	char note[320];
};

static enum pf_status stop_and_walk(struct pf_target *target,
				    const struct attach_options *opt,
				    const struct pf_object_types *locals_types,
				    bool collect_status, struct pf_mem *mem,
				    enum pf_native_view native,
				    struct pf_snapshot *snap,
				    struct pf_symbolizer **symbolizer,
				    struct hold_times *times,
				    struct task_request *tasks,
				    struct pf_error *err)
{
	struct pf_stopped stopped;
	hold_fatal_signals(true);
	double t0 = pf_now_ms();
	enum pf_status st = pf_proc_stop_all(&stopped, target->pid, err);
	times->stopping_ms = pf_now_ms() - t0;
	unsigned long reads_before = mem->reads;
	if (st == PF_OK &&
	    (collect_status || native != PF_NATIVE_NONE ||
	     target->layout.thread_names))
		pf_proc_read_thread_ids(&stopped);
	if (st == PF_OK) {
		struct pf_walk_input in = {
			.pid = target->pid,
			.mem = mem,
			.layout = &target->layout,
			.runtime = target->runtime,
			.interp_head = target->interp_head,
			.tstate_current = target->tstate_current,
			.stopped = &stopped,
			.current = PF_CURRENT_GIL_HOLDER,
			.collect_status = collect_status,
			.main_interpreter_only =
				opt->common.main_interpreter_only,
			.locals_types = locals_types,
		};
		st = pf_walk(&in, snap, err);
		double t1 = pf_now_ms();
		/* Without C stacks the Python ones are still worth
		 * printing. */
		struct pf_error native_err = {0};
		if (st == PF_OK && native != PF_NATIVE_NONE &&
		    pf_collect_native(snap, target->pid, symbolizer,
				      &native_err) != PF_OK)
			fprintf(stderr, "pyfault-attach: %s\n",
				native_err.message);
		times->native_ms = pf_now_ms() - t1;
		double t2 = pf_now_ms();
		if (st == PF_OK && tasks->source &&
		    !pf_task_collect(target, mem, tasks->source, snap,
				     tasks->note, sizeof tasks->note))
			st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		times->tasks_ms = pf_now_ms() - t2;
		if (st == PF_OK &&
		    (collect_status || native == PF_NATIVE_MERGED))
			pf_dump_python_names("pyfault-attach", mem, target,
					     snap);
		pf_proc_resume_all(&stopped);
	}
	times->stopped_ms = pf_now_ms() - t0;
	times->reads = mem->reads - reads_before;
	hold_fatal_signals(false);
	/* The names need not be read while the target is held. */
	if (st == PF_OK && target->layout.thread_names)
		pf_read_thread_names(snap, target->pid);
	return st;
}

static void print_details(const struct pf_target *t,
			  const struct pf_snapshot *snap,
			  const struct hold_times *times, unsigned long reads,
			  double total_ms)
{
	const struct pf_layout *l = &t->layout;
	char ns[64] = "", note[4400];
	pid_t ns_pid = pf_proc_ns_pid(t->pid);
	if (ns_pid != t->pid)
		snprintf(ns, sizeof ns, " (%d in its pid namespace)",
			 (int)ns_pid);
	if (t->micro_known)
		fprintf(stderr, "pyfault-attach: process %d%s: Python %u.%u.%u",
			(int)t->pid, ns, t->major, t->minor, t->micro);
	else
		fprintf(stderr, "pyfault-attach: process %d%s: Python %u.%u",
			(int)t->pid, ns, t->major, t->minor);
	fprintf(stderr, "%s in %s%s\n", t->debug_build ? " (debug build)" : "",
		t->object_path, pf_target_file_note(&t->file, note, sizeof note));
	fprintf(stderr, "pyfault-attach: offsets from %s (%s) in %.3f ms\n",
		pf_layout_source_name(l->source), l->source_detail,
		t->offsets_ms);
	if (t->cache_note[0] != '\0')
		fprintf(stderr, "pyfault-attach: %s\n", t->cache_note);
	fprintf(stderr,
		"pyfault-attach: %zu threads read, target stopped for %.3f ms "
		"(%.3f ms to stop it, %.3f ms for C stacks, %.3f ms for %zu "
		"asyncio tasks), %.3f ms in all\n",
		snap->nthreads, times->stopped_ms, times->stopping_ms,
		times->native_ms, times->tasks_ms, snap->tasks.count, total_ms);
	fprintf(stderr,
		"pyfault-attach: %lu reads of the target's memory, %lu of them "
		"while it was held\n",
		reads, times->reads);
}

/* with_header: several processes share the output, so each dump names its
 * process; after_another: a blank line separates it from the previous. */
static enum pf_status dump_pid(pid_t pid, const struct attach_options *opt,
			       FILE *out, bool with_header, bool after_another,
			       struct pf_error *err)
{
	double t0 = pf_now_ms();
	/* Seizing itself is refused; in a new PID namespace pyfault-attach
	 * may well be PID 1. */
	if (pid == getpid())
		return pf_fail(err, PF_ERR_USAGE,
			       "process %d is pyfault-attach itself: give the "
			       "PID of a Python process",
			       (int)pid);
	struct pf_mem mem;
	int rc = pf_mem_open_live(&mem, pid);
	if (rc == -ENOENT)
		return pf_fail(err, PF_ERR_NO_PROCESS,
			       "process %d does not exist", (int)pid);
	if (rc == -ESRCH)
		return pf_fail(err, PF_ERR_NO_PROCESS,
			       "process %d has exited (a zombie not yet reaped)",
			       (int)pid);
	if (rc == -EACCES || rc == -EPERM)
		return pf_trace_refusal(pid, err);
	if (rc != 0)
		return pf_fail(err, PF_ERR_INTERNAL,
			       "cannot open the memory of process %d: %s",
			       (int)pid, strerror(-rc));

	struct pf_target target;
	struct pf_snapshot snap = {0};
	struct hold_times times = {0};
	const struct pf_offsets_config config = {
		.sources = opt->offset_sources,
		.debuginfo_path = opt->common.debuginfo_path,
		.no_cache = opt->common.no_cache,
	};
	bool json = opt->common.format == PF_FORMAT_JSON;
	bool collect_status = opt->common.status || json;
	enum pf_native_view native = PF_NATIVE_NONE;
	struct pf_symbolizer *symbolizer = NULL;
	struct pf_task_source task_source;
	struct task_request tasks = {.source = NULL};
	enum pf_status st = pf_target_open(&target, pid, &mem, &config, err);
	if (st == PF_ERR_PERMISSION) {
		*err = (struct pf_error){0};
		st = pf_trace_refusal(pid, err);
	}
	if (st == PF_OK && opt->common.tasks != PF_TASKS_NONE) {
		pf_task_source_find(&target, NULL, &mem, &task_source);
		tasks.source = &task_source;
	}
	if (st == PF_OK) {
		/* Like faulthandler.dump_traceback(), which has no C stack. */
		native = pf_native_view_for(opt->common.native,
					    &target.layout, false);
		if (collect_status || native == PF_NATIVE_MERGED)
			pf_target_status_layout(&target);
		/* libunwind is loaded before the target is held, not by the
		 * first unwinding; a failure is told by pf_collect_native. */
		if (native != PF_NATIVE_NONE) {
			char ignored[512];
			pf_unwind_lib(ignored, sizeof ignored);
		}
		const struct pf_object_types *locals_types =
			opt->common.locals
				? pf_locals_types("pyfault-attach", &target)
				: NULL;
		st = stop_and_walk(&target, opt, locals_types, collect_status,
				   &mem, native, &snap, &symbolizer, &times,
				   &tasks, err);
	}
	/* The C frames' names, and the merged view's source lines, read
	 * once the target runs. */
	if (st == PF_OK && symbolizer &&
	    (!pf_name_native_frames(symbolizer, &snap) ||
	     (native == PF_NATIVE_MERGED &&
	      !pf_add_source_lines(symbolizer, &snap, target.object_path))))
		fprintf(stderr, "pyfault-attach: out of memory\n");
	pf_symbolizer_close(symbolizer);
	/* With the dump it qualifies; a failure says only why it failed. */
	if (st == PF_OK && target.warning[0])
		fprintf(stderr, "pyfault-attach: warning: %s\n", target.warning);
	unsigned long reads = mem.reads;
	pf_mem_close(&mem);
	st = pf_proc_exit_explains(pid, st, err);
	if (st != PF_OK)
		return st;

	bool only_current = opt->common.current_thread_only;
	bool has_current =
		!only_current || pf_snapshot_current_python(&snap) != NULL;
	if (only_current && !pf_task_keep_current(&snap))
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	if (json) {
		char exe[4096];
		struct pf_json_process process;
		struct pf_dump_reason reason = {.kind = PF_REASON_ATTACH};
		pf_json_process_of(&target, exe, sizeof exe, &process);
		if (!pf_write_json(out, "pyfault-attach", &process, &reason,
				   &snap, only_current))
			st = pf_fail(err, PF_ERR_INTERNAL,
				     "cannot write the JSON document");
	} else {
		if (after_another)
			fputc('\n', out);
		if (with_header)
			fprintf(out, "Process %d:\n", (int)pid);
		if (opt->common.status && has_current)
			pf_format_status(out, &snap, only_current);
		pf_write_threads(out, &target, &snap, only_current, native);
		if (!pf_format_tasks(out, &snap.tasks, opt->common.tasks))
			st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	}
	if (!has_current)
		fprintf(stderr,
			"pyfault-attach: process %d: no thread holds the GIL, "
			"so there is no current thread to dump\n",
			(int)pid);
	if (fflush(out) != 0 && st == PF_OK)
		st = pf_fail(err, PF_ERR_INTERNAL, "cannot write the dump: %s",
			     strerror(errno));
	if (opt->common.verbose)
		print_details(&target, &snap, &times, reads, pf_now_ms() - t0);
	if (opt->common.verbose && tasks.note[0] != '\0')
		fprintf(stderr, "pyfault-attach: %s\n", tasks.note);
	else if (opt->common.verbose && tasks.source)
		pf_task_source_report(stderr, "pyfault-attach", tasks.source);
	pf_snapshot_free(&snap);
	return st;
}

int main(int argc, char **argv)
{
	struct attach_options opt;
	pid_t pids[argc > 0 ? argc : 1];
	char why[256];
	bool parsed = attach_parse_args(argc, argv, &opt, pids, why, sizeof why);
	int early = pf_cli_early_exit("pyfault-attach", parsed, why, &opt.common,
				      usage_text);
	if (early >= 0)
		return early;
	/* The threads' stops are awaited on SIGCHLD (proc_ctl.c), which the
	 * kernel does not send to a process that ignores it, as one started
	 * by a daemon that does may. */
	signal(SIGCHLD, SIG_DFL);

	FILE *out = pf_cli_output("pyfault-attach", opt.common.output, stdout);
	if (out == NULL)
		return PF_ERR_INTERNAL;
	pf_cli_buffer_output(out);

	int status = 0;
	bool dumped = false;
	for (size_t i = 0; i < opt.npids; i++) {
		struct pf_error err = {0};
		enum pf_status st = dump_pid(pids[i], &opt, out,
					     opt.npids > 1, dumped, &err);
		if (st == PF_OK) {
			dumped = true;
			continue;
		}
		const char *hint = err.fix_given ? NULL : pf_status_hint(st);
		fprintf(stderr, "pyfault-attach: %s%s%s\n", err.message,
			hint ? ": " : "", hint ? hint : "");
		if (status == 0)
			status = st;
	}
	if (out != stdout && fclose(out) != 0 && status == 0) {
		fprintf(stderr, "pyfault-attach: cannot write %s: %s\n",
			opt.common.output, strerror(errno));
		status = PF_ERR_INTERNAL;
	}
	return status;
}
