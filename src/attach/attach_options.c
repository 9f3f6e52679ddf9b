#include "attach/attach_options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool parse_pid(const char *s, pid_t *pid)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0' || v <= 0 || v > INT_MAX)
		return false;
	*pid = (pid_t)v;
	return true;
}

/* --offsets, the only option of its own. */
static bool attach_option(int c, const char *arg, void *ctx, char *why,
			  size_t why_size)
{
	(void)c;
	struct attach_options *opt = ctx;
	return pf_cli_parse_offsets(arg, &opt->offset_sources, why, why_size);
}

bool attach_parse_args(int argc, char **argv, struct attach_options *opt,
		       pid_t *pids, char *why, size_t why_size)
{
	enum { OPT_OFFSETS = PF_OPT_OWN };
	static const struct option longopts[] = {
		PF_CLI_LONG_OPTIONS,
		{"offsets", required_argument, NULL, OPT_OFFSETS},
		{NULL, 0, NULL, 0},
	};
	memset(opt, 0, sizeof *opt);
	opt->pids = pids;
	opt->offset_sources = PF_SOURCES_ALL;
	int first;
	enum pf_cli_result parsed = pf_cli_parse(
		argc, argv, PF_CLI_OPTSTRING(""), longopts, &opt->common,
		attach_option, opt, "PID", &first, why, why_size);
	if (parsed != PF_CLI_OPERANDS)
		return parsed == PF_CLI_DONE;
	for (int i = first; i < argc; i++) {
		if (!parse_pid(argv[i], &pids[opt->npids])) {
			snprintf(why, why_size, "'%s' is not a process id",
				 argv[i]);
			return false;
		}
		opt->npids++;
	}
	return true;
}
