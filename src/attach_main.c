/* pyfault-attach: dump every thread's Python traceback of running processes,
 * as faulthandler would print it, and leave them as they were. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "attach_options.h"
#include "errors.h"
#include "proc_ctl.h"
#include "py_target.h"
#include "remote_mem.h"
#include "status_format.h"
#include "target_dump.h"
#include "walker.h"

static const char usage_text[] =
	"Usage: pyfault-attach [OPTION]... PID...\n"
	"Print the Python traceback of every thread of each running CPython\n"
	"process PID, as faulthandler would, and leave the process running.\n"
	"\n"
	"  -o, --output=FILE         append the dumps to FILE, not stdout\n"
	"      --current-thread-only only the thread holding the GIL\n"
	"      --status              start with a line per thread: OS thread\n"
	"                            id, name, GIL, running or in which call\n"
	"      --format=FORMAT       text (faulthandler's, the default) or\n"
	"                            json (one document per process)\n"
	"  -v, --verbose             version, offsets source and timing on "
	"stderr\n"
	"      --offsets=SOURCE      take structure offsets only from SOURCE:\n"
	"                            debug-offsets, dwarf or table (default:\n"
	"                            auto, the most trusted one available)\n"
	"      --help                show this help and exit\n"
	"      --version             show the version and exit\n"
	"\n"
	"Exit status: 0 dumped, 1 other error, 2 usage, 3 no such process,\n"
	"4 permission denied, 5 not a Python process, 6 unsupported version,\n"
	"7 no offsets found, 8 target exited during the dump, 9 unreadable\n"
	"interpreter state, 10 Python starting up or shutting down.\n"
	"See pyfault-attach(1).\n";

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Signals that would kill pyfault are held back while the target is
 * stopped, so that it is always detached first; they act right after. */
static void hold_fatal_signals(bool hold)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	sigaddset(&set, SIGPIPE);
	sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
}

/* How long the target was held, and the part spent stopping it. */
struct hold_times {
	double stopping_ms, stopped_ms;
};

static enum pf_status stop_and_walk(const struct pf_target *target,
				    bool collect_status, struct pf_mem *mem,
				    struct pf_snapshot *snap,
				    struct hold_times *times,
				    struct pf_error *err)
{
	struct pf_stopped stopped;
	hold_fatal_signals(true);
	double t0 = now_ms();
	enum pf_status st = pf_proc_stop_all(&stopped, target->pid, err);
	times->stopping_ms = now_ms() - t0;
	if (st == PF_OK) {
		struct pf_walk_input in = {
			.pid = target->pid,
			.mem = mem,
			.layout = &target->layout,
			.runtime = target->runtime,
			.stopped = &stopped,
			.current = PF_CURRENT_GIL_HOLDER,
			.collect_status = collect_status,
		};
		st = pf_walk(&in, snap, err);
		pf_proc_resume_all(&stopped);
	}
	times->stopped_ms = now_ms() - t0;
	hold_fatal_signals(false);
	return st;
}

static void print_details(const struct pf_target *t,
			  const struct pf_snapshot *snap,
			  const struct hold_times *times, double total_ms)
{
	const struct pf_layout *l = &t->layout;
	if (t->micro_known)
		fprintf(stderr, "pyfault-attach: process %d: Python %u.%u.%u",
			(int)t->pid, t->major, t->minor, t->micro);
	else
		fprintf(stderr, "pyfault-attach: process %d: Python %u.%u",
			(int)t->pid, t->major, t->minor);
	fprintf(stderr, "%s in %s\n", t->debug_build ? " (debug build)" : "",
		t->object_path);
	fprintf(stderr, "pyfault-attach: offsets from %s (%s)\n",
		pf_layout_source_name(l->source), l->source_detail);
	fprintf(stderr,
		"pyfault-attach: %zu threads read, target stopped for %.3f ms "
		"(%.3f ms to stop it), %.3f ms in all\n",
		snap->nthreads, times->stopped_ms, times->stopping_ms, total_ms);
}

/* with_header: several processes share the output, so each dump names its
 * process; after_another: a blank line separates it from the previous. */
static enum pf_status dump_pid(pid_t pid, const struct attach_options *opt,
			       FILE *out, bool with_header, bool after_another,
			       struct pf_error *err)
{
	double t0 = now_ms();
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
		return pf_fail(err, PF_ERR_PERMISSION,
			       "not permitted to read the memory of process %d",
			       (int)pid);
	if (rc != 0)
		return pf_fail(err, PF_ERR_INTERNAL,
			       "cannot open the memory of process %d: %s",
			       (int)pid, strerror(-rc));

	struct pf_target target;
	struct pf_snapshot snap = {0};
	struct hold_times times = {0};
	bool json = opt->common.format == PF_FORMAT_JSON;
	bool collect_status = opt->common.status || json;
	enum pf_status st =
		pf_target_open(&target, pid, &mem, opt->offset_sources, err);
	if (st == PF_OK && collect_status)
		pf_target_status_layout(&target);
	if (st == PF_OK)
		st = stop_and_walk(&target, collect_status, &mem, &snap,
				   &times, err);
	pf_mem_close(&mem);
	/* Whatever failed, a process that died meanwhile explains it best:
	 * its files and memory vanish at any step. */
	if (st != PF_OK && st != PF_ERR_NO_PROCESS && pf_proc_exited(pid)) {
		*err = (struct pf_error){0};
		st = pf_fail(err, PF_ERR_EXITED,
			     "process %d exited while it was being read",
			     (int)pid);
	}
	if (st != PF_OK)
		return st;

	bool only_current = opt->common.current_thread_only;
	bool has_current = !only_current;
	for (size_t i = 0; i < snap.nthreads; i++)
		has_current |= snap.threads[i].is_current;
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
		pf_write_threads(out, &target.layout, &snap, only_current);
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
		print_details(&target, &snap, &times, now_ms() - t0);
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

	FILE *out = stdout;
	if (opt.common.output &&
	    (out = pf_cli_open_output(opt.common.output)) == NULL) {
		fprintf(stderr, "pyfault-attach: cannot open %s: %s\n",
			opt.common.output, strerror(errno));
		return PF_ERR_INTERNAL;
	}

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
		const char *hint = pf_status_hint(st);
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
