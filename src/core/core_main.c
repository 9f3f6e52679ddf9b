/* pyfault-core: the Python traceback faulthandler would have printed, from
 * the core file of a CPython process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/errors.h"
#include "core/core_options.h"
#include "corefile/core_file.h"
#include "corefile/core_input.h"
#include "corefile/core_modules.h"
#include "dump/target_dump.h"
#include "dump/task_dump.h"
#include "elf/dw_lib.h"
#include "format/task_format.h"
#include "format/status_format.h"
#include "layout/py_target.h"
#include "native/native_core_unwind.h"
#include "native/native_stack.h"
#include "walk/py_modules.h"
#include "walk/walker.h"

static const char usage_text[] =
	"Usage: pyfault-core [OPTION]... CORE [EXECUTABLE]\n"
	"Print from the core file CORE of a CPython process the traceback\n"
	"faulthandler would have printed: of the fatal signal that wrote it, or of\n"
	"every thread (gcore).  CORE may be zstd, xz or lz4; - reads stdin.\n"
	"\n"
	"  -o, --output=FILE       append the dump to FILE, not stdout\n"
	"      --current-thread-only  only the current thread\n"
	"      --main-interpreter-only  no subinterpreter's threads (faulthandler's)\n"
	"      --locals            each frame's local variables under it\n"
	"      --native[=merged], --no-native  C stacks (merged: into one), or none\n"
	"      --status            a line per thread first: id, name, system call\n"
	"      --format=FORMAT     text (faulthandler's) or json\n"
	"      --tasks[=tree]      then every asyncio task and its await chain (3.11+)\n"
	"      --sysroot=DIR       the files the process mapped are under DIR\n"
	"  -v, --verbose           signal, Python version, offsets source on stderr\n"
	"      --offsets=SOURCE    debug-offsets, dwarf, table or auto (the default)\n"
	"      --debuginfo-path=PATH  where separate debug files are (as eu-stack)\n"
	"      --no-cache          neither read nor write the offset cache\n"
	"      --help, --version   show this help, or the version, and exit\n"
	"\n"
	"Exit status: 0 dumped, 1 error, 2 usage, 4 unreadable, 5 not Python,\n"
	"6 unsupported version, 7 no offsets, 9 unreadable state, 10 starting or\n"
	"finalizing, 14 mapped file missing, 15 not a core, 16 other build-id.\n"
	"Example: coredumpctl dump 1234 | pyfault-core -.  Manual: man pyfault-core\n";

/* The signals faulthandler.enable() handles: a core they wrote is a fatal
 * error; any other (SIGQUIT, gcore's none) shows every thread. */
static bool is_fatal_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGFPE || sig == SIGABRT ||
	       sig == SIGBUS || sig == SIGILL;
}

/* The file of mapping m where pyfault reads it: under the sysroot. */
static enum pf_status find_core_file(const struct pf_target_view *v,
				     const struct pf_mapping *m,
				     struct pf_target_file *file,
				     struct pf_error *err)
{
	const struct pf_core *core = v->ctx;
	memset(file, 0, sizeof *file);
	pf_core_host_path(core, m->path, file->read_path,
			  sizeof file->read_path);
	file->other_root = core->sysroot != NULL;
	if (access(file->read_path, R_OK) == 0)
		return PF_OK;
	return pf_fail(err, PF_ERR_FILE_GONE,
		       "the process of %s mapped %s, which cannot be read as "
		       "%s: %s",
		       core->name, m->path, file->read_path, strerror(errno));
}

/* What the walk and the output share. */
struct core_dump {
	struct pf_core_input input;
	struct pf_core core;
	Dwfl *dwfl;
	struct pf_mem mem;
	struct pf_target_view view;  /* the core's mappings and files */
	struct pf_target target;
	struct pf_snapshot snap;
	struct pf_dump_reason reason;
	bool fatal;
};

/* --tasks: the asyncio tasks as the core holds them; why not, with -v. */
static void collect_tasks(struct core_dump *d, const struct core_options *opt)
{
	struct pf_task_source source;
	char note[320];
	pf_task_source_find(&d->target, &d->view, &d->mem, &source);
	if (!pf_task_collect(&d->target, &d->mem, &source, &d->snap, note,
			     sizeof note))
		fprintf(stderr, "pyfault-core: out of memory\n");
	else if (opt->common.verbose && note[0] != '\0')
		fprintf(stderr, "pyfault-core: %s\n", note);
	else if (opt->common.verbose)
		pf_task_source_report(stderr, "pyfault-core", &source);
}

static enum pf_status walk_core(struct core_dump *d,
				const struct core_options *opt,
				struct pf_error *err)
{
	struct pf_core *core = &d->core;
	const struct pf_core_thread *signalled = &core->threads[0];
	struct pf_stopped stopped = {.pid = core->pid};
	stopped.threads = calloc(core->nthreads, sizeof *stopped.threads);
	if (stopped.threads == NULL)
		return pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < core->nthreads; i++)
		stopped.threads[stopped.count++] = (struct pf_thread){
			.tid = core->threads[i].tid,
			.pthread_id = core->threads[i].pthread_id};
	/* The name of the thread that would have written the backport's
	 * dump (2.7): the core has only the main thread's, and 2.7 names no
	 * thread, so each has the name it was created with, the process's
	 * (unless the program renamed it itself). */
	const char *dumper_name = core->fname;
	struct pf_walk_input in = {
		.pid = core->pid,
		.mem = &d->mem,
		.layout = &d->target.layout,
		.runtime = d->target.runtime,
		.interp_head = d->target.interp_head,
		.tstate_current = d->target.tstate_current,
		.stopped = &stopped,
		.current = d->fatal ? PF_CURRENT_THREAD : PF_CURRENT_GIL_HOLDER,
		.current_thread_id = signalled->pthread_id,
		.dumper_tid = d->fatal ? signalled->tid : 0,
		.dumper_name = dumper_name,
		.collect_status = opt->common.status ||
				  opt->common.format == PF_FORMAT_JSON,
		.thread_status = pf_core_thread_status,
		.status_ctx = core,
		.main_interpreter_only = opt->common.main_interpreter_only,
		.locals_types = opt->common.locals
					? pf_locals_types("pyfault-core",
							  &d->target)
					: NULL,
	};
	bool python_names = in.collect_status ||
			    opt->common.native == PF_NATIVE_MERGED;
	if (python_names)
		pf_target_status_layout(&d->target);
	enum pf_status st = pf_walk(&in, &d->snap, err);
	free(stopped.threads);
	if (st != PF_OK)
		return st;
	if (python_names)
		pf_dump_python_names("pyfault-core", &d->mem, &d->target,
				     &d->snap);
	if (opt->common.tasks != PF_TASKS_NONE)
		collect_tasks(d, opt);
	/* Of the threads' names only the main thread's is in the core. */
	for (size_t i = 0; d->target.layout.thread_names &&
			   i < pf_snapshot_count(&d->snap);
	     i++) {
		struct pf_thread_dump *t = pf_snapshot_thread(&d->snap, i);
		if (t->tid == core->pid)
			snprintf(t->name, sizeof t->name, "%.15s",
				 core->fname);
	}
	struct pf_error note = {0};
	if (d->fatal && pf_read_extension_modules(&d->mem, &d->target,
						  d->snap.interp,
						  &d->snap.modules,
						  &note) != PF_OK)
		fprintf(stderr, "pyfault-core: %s\n", note.message);
	return PF_OK;
}

static enum pf_status open_core(struct core_dump *d,
				const struct core_options *opt,
				struct pf_error *err)
{
	struct pf_core *core = &d->core;
	enum pf_status st = pf_core_input_open(&d->input, opt->core, err);
	if (st != PF_OK)
		return st;
	if (d->input.warning[0])
		fprintf(stderr, "pyfault-core: warning: %s; what came before is "
				"read\n",
			d->input.warning);
	st = pf_core_open(core, d->input.read_path, d->input.path,
			  opt->sysroot, err);
	if (st != PF_OK)
		return st;
	core->executable_file = opt->executable;
	if (core->missing_bytes)
		fprintf(stderr,
			"pyfault-core: warning: %s is truncated: %llu bytes of "
			"its memory are missing (the file has %llu bytes); "
			"what is there is read\n",
			core->name, (unsigned long long)core->missing_bytes,
			(unsigned long long)core->size);
	d->dwfl = pf_core_dwfl(core, opt->common.debuginfo_path, err);
	if (d->dwfl == NULL)
		return err->status;
	st = pf_core_check_build_ids(d->dwfl, core, err);
	if (st != PF_OK)
		return st;
	pf_mem_open_core(&d->mem, core);
	d->view = (struct pf_target_view){
		.pid = core->pid,
		.maps = &core->maps,
		.executable = core->executable[0] ? core->executable : NULL,
		.root = opt->sysroot,
		.find_file = find_core_file,
		.ctx = core,
	};
	pf_fail(&d->view.exe_err, PF_ERR_NOT_PYTHON,
		"%s names no executable (no AT_PHDR in its NT_AUXV note)",
		core->name);
	const struct pf_offsets_config config = {
		.sources = opt->offset_sources,
		.debuginfo_path = opt->common.debuginfo_path,
		.no_cache = opt->common.no_cache,
	};
	return pf_target_open_view(&d->target, &d->view, &d->mem, &config,
				   err);
}

/* The C stacks the view shows; without them the Python ones are still
 * worth printing. */
static void collect_native(struct core_dump *d, enum pf_native_view native)
{
	struct pf_unwinder *u = pf_core_unwinder_new(&d->core);
	struct pf_symbolizer *s = pf_symbolizer_of(d->dwfl, &d->core.maps);
	struct pf_error err = {0};
	if (s)
		d->dwfl = NULL;
	if (u == NULL || s == NULL)
		fprintf(stderr, "pyfault-core: libunwind-coredump cannot read "
				"%s: no C stacks\n",
			d->core.name);
	else if (pf_collect_native_with(&d->snap, u, s,
					native == PF_NATIVE_CURRENT,
					&err) != PF_OK ||
		 (native == PF_NATIVE_MERGED &&
		  !pf_add_source_lines(s, &d->snap, d->target.object_path)))
		fprintf(stderr, "pyfault-core: %s\n",
			err.message[0] ? err.message : "out of memory");
	pf_unwinder_free(u);
	pf_symbolizer_close(s);
}

static void print_details(const struct core_dump *d, double total_ms)
{
	const struct pf_target *t = &d->target;
	const struct pf_layout *l = &t->layout;
	fprintf(stderr, "pyfault-core: core of process %d (%s: %s): ",
		(int)d->core.pid, d->core.fname, d->core.psargs);
	if (d->reason.signo)
		pf_format_signal_details(stderr, &d->reason);
	else
		fputs("no signal (a core of a live process)", stderr);
	fputc('\n', stderr);
	if (t->micro_known)
		fprintf(stderr, "pyfault-core: Python %u.%u.%u", t->major,
			t->minor, t->micro);
	else
		fprintf(stderr, "pyfault-core: Python %u.%u", t->major,
			t->minor);
	fprintf(stderr, "%s in %s (read as %s)\n",
		t->debug_build ? " (debug build)" : "", t->object_path,
		t->file.read_path);
	fprintf(stderr, "pyfault-core: offsets from %s (%s) in %.3f ms\n",
		pf_layout_source_name(l->source), l->source_detail,
		t->offsets_ms);
	if (t->cache_note[0] != '\0')
		fprintf(stderr, "pyfault-core: %s\n", t->cache_note);
	fprintf(stderr, "pyfault-core: %zu threads read, %.3f ms in all\n",
		d->snap.nthreads, total_ms);
}

static enum pf_status write_dump(struct core_dump *d,
				 const struct core_options *opt, FILE *out,
				 enum pf_native_view native,
				 struct pf_error *err)
{
	bool only_current = opt->common.current_thread_only;
	const struct pf_snapshot *snap = &d->snap;
	bool has_current =
		!only_current || pf_snapshot_current_python(snap) != NULL;
	if (opt->common.format == PF_FORMAT_JSON) {
		const struct pf_target *t = &d->target;
		struct pf_json_process process;
		pf_json_process_fill(t, d->core.executable[0]
						? d->core.executable
						: NULL,
				     &process);
		bool current_only =
			d->fatal ? pf_fatal_current_only(t, snap, only_current)
				 : only_current;
		if (!pf_write_json(out, "pyfault-core", &process, &d->reason,
				   snap, current_only))
			return pf_fail(err, PF_ERR_INTERNAL,
				       "cannot write the JSON document");
	} else {
		struct pf_style style = pf_style_of(&d->target.layout);
		if (d->fatal)
			pf_format_fatal_header(out, d->reason.signo, &style);
		if (opt->common.status && has_current)
			pf_format_status(out, snap, only_current);
		if (d->fatal)
			pf_write_fatal_threads(out, &d->target, snap,
					       only_current, native);
		else
			pf_write_threads(out, &d->target, snap, only_current,
					 native);
		if (!pf_format_tasks(out, &snap->tasks, opt->common.tasks))
			return pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	}
	if (!has_current)
		fprintf(stderr,
			"pyfault-core: %s: no thread held the GIL, so there is "
			"no current thread to dump\n",
			d->core.name);
	return PF_OK;
}

static enum pf_status dump_core(const struct core_options *opt, FILE *out,
				struct pf_error *err)
{
	double t0 = pf_now_ms();
	struct core_dump d;
	memset(&d, 0, sizeof d);
	d.core.fd = -1;
	d.input.fd = -1;
	enum pf_status st = open_core(&d, opt, err);
	if (st == PF_OK) {
		const struct pf_core *core = &d.core;
		int signo = core->threads[0].cursig;
		d.fatal = is_fatal_signal(signo);
		d.reason = (struct pf_dump_reason){
			.kind = d.fatal ? PF_REASON_FATAL_SIGNAL
					: PF_REASON_CORE,
			.signo = signo};
		if (core->has_siginfo && core->siginfo.si_signo == signo)
			pf_reason_set_siginfo(&d.reason, &core->siginfo);
		st = walk_core(&d, opt, err);
	}
	if (st == PF_OK) {
		enum pf_native_view native = pf_native_view_for(opt->common.native,
					    &d.target.layout, d.fatal);
		if (native != PF_NATIVE_NONE)
			collect_native(&d, native);
		if (d.target.warning[0])
			fprintf(stderr, "pyfault-core: warning: %s\n",
				d.target.warning);
		st = write_dump(&d, opt, out, native, err);
		if (fflush(out) != 0 && st == PF_OK)
			st = pf_fail(err, PF_ERR_INTERNAL,
				     "cannot write the dump: %s",
				     strerror(errno));
		if (opt->common.verbose)
			print_details(&d, pf_now_ms() - t0);
		pf_snapshot_free(&d.snap);
	}
	if (d.dwfl)
		pf_dw.dwfl_end(d.dwfl);
	pf_core_close(&d.core);
	pf_core_input_close(&d.input);
	return st;
}

/* The fix for a failure, where the shared hint speaks of live processes. */
static const char *core_hint(enum pf_status st)
{
	switch (st) {
	case PF_ERR_FILE_GONE:
		return "give the files of the machine that wrote the core with "
		       "--sysroot DIR, or the program's file as EXECUTABLE";
	case PF_ERR_NOT_READY:
		return "the core was written while Python was starting up or "
		       "shutting down";
	case PF_ERR_BAD_MEMORY:
		return "the core holds an interpreter state that is corrupt "
		       "or was changing";
	case PF_ERR_NOT_PYTHON:
		return "give the core of a CPython process";
	default:
		return pf_status_hint(st);
	}
}

int main(int argc, char **argv)
{
	struct core_options opt;
	char why[256];
	bool parsed = core_parse_args(argc, argv, &opt, why, sizeof why);
	int early = pf_cli_early_exit("pyfault-core", parsed, why, &opt.common,
				      usage_text);
	if (early >= 0)
		return early;

	FILE *out = pf_cli_output("pyfault-core", opt.common.output, stdout);
	if (out == NULL)
		return PF_ERR_INTERNAL;
	pf_cli_buffer_output(out);
	struct pf_error err = {0};
	enum pf_status st = dump_core(&opt, out, &err);
	if (st != PF_OK) {
		const char *hint = err.fix_given ? NULL : core_hint(st);
		fprintf(stderr, "pyfault-core: %s%s%s\n", err.message,
			hint ? ": " : "", hint ? hint : "");
	}
	if (out != stdout && fclose(out) != 0 && st == PF_OK) {
		fprintf(stderr, "pyfault-core: cannot write %s: %s\n",
			opt.common.output, strerror(errno));
		st = PF_ERR_INTERNAL;
	}
	return st;
}
