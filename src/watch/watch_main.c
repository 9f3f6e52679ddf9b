/* pyfault-watch: run a program under ptrace and print faulthandler's
 * traceback when it crashes, runs past a timeout, or on request, with the
 * program's fate and exit status left as they would have been. */
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
	"Run COMMAND; on a fatal signal, a timeout or SIGUSR1 to pyfault-watch, print\n"
	"the Python tracebacks faulthandler would, and let COMMAND end as it would.\n"
	"\n"
	"  -t, --timeout=SECONDS   dump every thread after SECONDS\n"
	"      --repeat, --exit    then dump every SECONDS, or kill it and exit 124\n"
	"      --signal=SIG, --chain  dump on SIG (--chain: deliver SIG after it)\n"
	"      --no-follow         do not watch child processes\n"
	"  -o, --output=FILE       append the dumps to FILE, not stderr\n"
	"      --current-thread-only  only the current thread\n"
	"      --main-interpreter-only  no subinterpreter's threads (faulthandler's)\n"
	"      --locals            each frame's local variables under it\n"
	"      --native[=merged]   add each thread's C stack (merged: into one stack)\n"
	"      --no-native         no C stack, not even 3.14's on fatal errors\n"
	"      --status            a line per thread first: id, name, GIL, system call\n"
	"      --format=FORMAT     text (faulthandler's) or json (a line per dump)\n"
	"      --tasks[=tree]      then every asyncio task and its await chain (3.11+)\n"
	"  -v, --verbose           Python version, offsets source, fault on stderr\n"
	"      --debuginfo-path=PATH  where separate debug files are (as eu-stack)\n"
	"      --no-cache          neither read nor write the offset cache\n"
	"      --help, --version   show this help, or the version, and exit\n"
	"\n"
	"Exit status: the program's, or it dies of its signal; 124 killed on timeout\n"
	"(--exit); 126/127 COMMAND not runnable; 2 usage.  Manual: man pyfault-watch\n";

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

	FILE *out = pf_cli_output("pyfault-watch", opt.common.output, stderr);
	if (out == NULL)
		return PF_ERR_INTERNAL;
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
