#include "watch/watch_options.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/fh_format.h"

bool watch_parse_timeout(const char *s, double *seconds,
			 uint64_t *timeout_us)
{
	char *end;
	errno = 0;
	double value = strtod(s, &end);
	/* A year is more than any watchdog needs and keeps the arithmetic
	 * exact. */
	if (errno || end == s || *end != '\0' || !(value > 0) ||
	    value > 365.0 * 24 * 3600)
		return false;
	*seconds = value;
	*timeout_us = pf_timeout_us(value);
	return true;
}

/* Names kill(1) and the shells know besides glibc's abbreviations:
 * sigabbrev_np() calls SIGIO "POLL" where bash says "IO"; "IOT" and "CLD"
 * are the old names of SIGABRT and SIGCHLD. */
static const struct {
	const char *name;
	int sig;
} signal_aliases[] = {
	{"IO", SIGIO},
	{"IOT", SIGIOT},
	{"CLD", SIGCLD},
};

int watch_signal_number(const char *s)
{
	if (strncmp(s, "SIG", 3) == 0)
		s += 3;
	char *end;
	long n = strtol(s, &end, 10);
	if (end != s && *end == '\0')
		return n > 0 && n < NSIG ? (int)n : 0;
	for (int i = 1; i < NSIG; i++) {
		const char *abbrev = sigabbrev_np(i);
		if (abbrev && strcmp(abbrev, s) == 0)
			return i;
	}
	for (size_t i = 0;
	     i < sizeof signal_aliases / sizeof signal_aliases[0]; i++)
		if (strcmp(signal_aliases[i].name, s) == 0)
			return signal_aliases[i].sig;
	return 0;
}

int watch_parse_signal(const char *s)
{
	int sig = watch_signal_number(s);
	switch (sig) {
	case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGSEGV: case SIGFPE:
	case SIGABRT: case SIGBUS: case SIGILL:
		return 0;
	default:
		return sig;
	}
}

enum { OPT_REPEAT = PF_OPT_OWN, OPT_EXIT, OPT_SIGNAL, OPT_CHAIN,
       OPT_NO_FOLLOW };

static bool watch_option(int c, const char *arg, void *ctx, char *why,
			 size_t why_size)
{
	struct watch_options *opt = ctx;
	switch (c) {
	case 't':
		if (!watch_parse_timeout(arg, &opt->timeout_s,
					 &opt->timeout_us)) {
			snprintf(why, why_size,
				 "invalid timeout '%s' (seconds, a "
				 "positive number)",
				 arg);
			return false;
		}
		break;
	case OPT_REPEAT:
		opt->repeat = true;
		break;
	case OPT_EXIT:
		opt->exit_after_timeout = true;
		break;
	case OPT_SIGNAL: {
		int sig = watch_parse_signal(arg);
		if (watch_signal_number(arg) == 0) {
			snprintf(why, why_size,
				 "unknown signal '%s' (a name of kill -l, or "
				 "a number)", arg);
			return false;
		}
		if (sig == 0) {
			snprintf(why, why_size,
				 "cannot dump on signal '%s'", arg);
			return false;
		}
		opt->dump_signals |= 1ull << (sig - 1);
		break;
	}
	case OPT_CHAIN:
		opt->chain = true;
		break;
	case OPT_NO_FOLLOW:
		opt->follow = false;
		break;
	}
	return true;
}

bool watch_parse_args(int argc, char **argv, struct watch_options *opt,
		      char *why, size_t why_size)
{
	static const struct option longopts[] = {
		PF_CLI_LONG_OPTIONS,
		{"timeout", required_argument, NULL, 't'},
		{"repeat", no_argument, NULL, OPT_REPEAT},
		{"exit", no_argument, NULL, OPT_EXIT},
		{"signal", required_argument, NULL, OPT_SIGNAL},
		{"chain", no_argument, NULL, OPT_CHAIN},
		{"no-follow", no_argument, NULL, OPT_NO_FOLLOW},
		{NULL, 0, NULL, 0},
	};
	memset(opt, 0, sizeof *opt);
	opt->follow = true;
	int first;
	/* The options end at the command, whose own options are its own. */
	enum pf_cli_result parsed = pf_cli_parse(
		argc, argv, PF_CLI_OPTSTRING("t:"), longopts, &opt->common,
		watch_option, opt, "command", &first, why, why_size);
	if (parsed != PF_CLI_OPERANDS)
		return parsed == PF_CLI_DONE;
	if ((opt->repeat || opt->exit_after_timeout) && opt->timeout_us == 0) {
		snprintf(why, why_size, "--repeat and --exit need --timeout");
		return false;
	}
	if (opt->chain && opt->dump_signals == 0) {
		snprintf(why, why_size, "--chain needs --signal");
		return false;
	}
	opt->command = argv + first;
	return true;
}
