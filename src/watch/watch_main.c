/* pyfault-watch: run a program under ptrace and print faulthandler's
 * traceback when it crashes, runs past a timeout, or on request, with the
 * program's fate and exit status left as they would have been. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "base/errors.h"
#include "watch/supervisor.h"
#include "watch/watch_options.h"

/* coreutils timeout's status when the command was killed on timeout. */
#define EXIT_TIMED_OUT 124

static const char usage_text[] =
	"Usage: pyfault-watch [OPTION]... [--] COMMAND [ARG]...\n"
	"Run COMMAND; if it gets a fatal signal or runs past the timeout,\n"
	"print the Python traceback faulthandler would print, then let it\n"
	"end as it would have.\n"
	"\n"
	"  -t, --timeout=SECONDS     dump every thread after SECONDS\n"
	"      --repeat              dump again every SECONDS\n"
	"      --exit                kill the program after the timeout dump\n"
	"                            and exit with status 124\n"
	"      --signal=SIG          dump when the program receives SIG\n"
	"      --chain               deliver SIG after the dump\n"
	"      --no-follow           do not watch child processes\n"
	"  -o, --output=FILE         append the dumps to FILE, not stderr\n"
	"      --current-thread-only only the current thread\n"
	PF_CLI_SCOPE_HELP
	"      --native[=merged]     also the C stack of each thread, as a\n"
	"                            section after the tracebacks, or merged\n"
	"                            with the Python frames into one stack\n"
	"      --no-native           no C stack, even where faulthandler (3.14+)\n"
	"                            prints one on fatal errors\n"
	"      --status              start each dump with a line per thread:\n"
	"                            OS thread id, name, GIL, running or in\n"
	"                            which call\n"
	"      --format=FORMAT       text (faulthandler's, the default) or\n"
	"                            json (one document per dump)\n"
	"  -v, --verbose             version, offsets source and the fault\n"
	"                            (SEGV_MAPERR at 0x0) on stderr\n"
	"      --debuginfo-path=PATH where to look for separate debug files\n"
	"                            (as eu-stack; default\n"
	"                            :.debug:/usr/lib/debug)\n"
	"      --no-cache            do not read or write the offset cache\n"
	"      --help                show this help and exit\n"
	"      --version             show the version and exit\n"
	"\n"
	"kill -USR1 on pyfault-watch dumps the program's threads now.\n"
	"Exit status: the program's; 124 when killed on timeout; 126/127 when\n"
	"COMMAND cannot be run; 2 usage.  See pyfault-watch(1).\n";

/* Dies of the program's signal, so that a shell sees what it would have
 * seen without pyfault; no core of pyfault's own is written. */
static int mirror(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	int sig = WTERMSIG(wait_status);
	struct rlimit no_core = {0, 0};
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	return 128 + sig;
}

int main(int argc, char **argv)
{
	struct watch_options opt;
	char why[256];
	bool parsed = watch_parse_args(argc, argv, &opt, why, sizeof why);
	int early = pf_cli_early_exit("pyfault-watch", parsed, why, &opt.common,
				      usage_text);
	if (early >= 0)
		return early;

	FILE *out = stderr;
	if (opt.common.output &&
	    (out = pf_cli_open_output(opt.common.output)) == NULL) {
		pf_cli_output_error("pyfault-watch", opt.common.output, errno);
		return PF_ERR_INTERNAL;
	}
	struct pf_watch_outcome outcome = {0};
	struct pf_error err = {0};
	if (pf_watch_run(&opt, out, &outcome, &err) != PF_OK) {
		fprintf(stderr, "pyfault-watch: %s\n", err.message);
		return err.status;
	}
	if (out != stderr)
		fclose(out);
	if (outcome.killed_on_timeout)
		return EXIT_TIMED_OUT;
	return mirror(outcome.wait_status);
}
