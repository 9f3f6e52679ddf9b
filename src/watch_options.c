#include "watch_options.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool watch_parse_timeout(const char *s, uint64_t *timeout_us)
{
	char *end;
	errno = 0;
	double seconds = strtod(s, &end);
	/* A year is more than any watchdog needs and keeps the arithmetic
	 * exact. */
	if (errno || end == s || *end != '\0' || !(seconds > 0) ||
	    seconds > 365.0 * 24 * 3600)
		return false;
	/* _PyTime_ROUND_TIMEOUT: seconds to nanoseconds rounded up in double
	 * arithmetic, then nanoseconds to microseconds rounded up, so that
	 * 2.000001 gives 2.000002 as faulthandler prints it. */
	uint64_t ns = (uint64_t)ceil(seconds * 1e9);
	*timeout_us = (ns + 999) / 1000;
	return true;
}

bool watch_parse_args(int argc, char **argv, struct watch_options *opt,
		      char *why, size_t why_size)
{
	enum { OPT_REPEAT = 256, OPT_EXIT, OPT_CURRENT, OPT_HELP,
	       OPT_VERSION };
	static const struct option longopts[] = {
		{"timeout", required_argument, NULL, 't'},
		{"repeat", no_argument, NULL, OPT_REPEAT},
		{"exit", no_argument, NULL, OPT_EXIT},
		{"output", required_argument, NULL, 'o'},
		{"current-thread-only", no_argument, NULL, OPT_CURRENT},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, OPT_HELP},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	memset(opt, 0, sizeof *opt);
	optind = 0;
	opterr = 0;
	int c;
	/* "+": options end at the command, whose own options are its own. */
	while ((c = getopt_long(argc, argv, "+:t:o:v", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!watch_parse_timeout(optarg, &opt->timeout_us)) {
				snprintf(why, why_size,
					 "invalid timeout '%s' (seconds, a "
					 "positive number)",
					 optarg);
				return false;
			}
			break;
		case OPT_REPEAT:
			opt->repeat = true;
			break;
		case OPT_EXIT:
			opt->exit_after_timeout = true;
			break;
		case 'o':
			opt->output = optarg;
			break;
		case OPT_CURRENT:
			opt->current_thread_only = true;
			break;
		case 'v':
			opt->verbose = true;
			break;
		case OPT_HELP:
			opt->help = true;
			return true;
		case OPT_VERSION:
			opt->version = true;
			return true;
		case ':':
			snprintf(why, why_size, "option '%s' needs an argument",
				 argv[optind - 1]);
			return false;
		default:
			snprintf(why, why_size, "invalid option '%s'",
				 argv[optind - 1]);
			return false;
		}
	}
	if (optind >= argc) {
		snprintf(why, why_size, "missing command");
		return false;
	}
	if ((opt->repeat || opt->exit_after_timeout) && opt->timeout_us == 0) {
		snprintf(why, why_size, "--repeat and --exit need --timeout");
		return false;
	}
	opt->command = argv + optind;
	return true;
}
