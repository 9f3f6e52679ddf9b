#include "core/core_options.h"

#include <stdio.h>
#include <string.h>

#include "layout/py_layout.h"

enum { OPT_SYSROOT = PF_OPT_OWN, OPT_OFFSETS };

static bool core_option(int c, const char *arg, void *ctx, char *why,
			size_t why_size)
{
	struct core_options *opt = ctx;
	if (c == OPT_SYSROOT) {
		opt->sysroot = arg;
		return true;
	}
	return pf_cli_parse_offsets(arg, &opt->offset_sources, why, why_size);
}

bool core_parse_args(int argc, char **argv, struct core_options *opt,
		     char *why, size_t why_size)
{
	static const struct option longopts[] = {
		PF_CLI_LONG_OPTIONS,
		{"sysroot", required_argument, NULL, OPT_SYSROOT},
		{"offsets", required_argument, NULL, OPT_OFFSETS},
		{NULL, 0, NULL, 0},
	};
	memset(opt, 0, sizeof *opt);
	opt->offset_sources = PF_SOURCES_ALL;
	int first;
	enum pf_cli_result parsed = pf_cli_parse(
		argc, argv, PF_CLI_OPTSTRING(""), longopts, &opt->common,
		core_option, opt, "CORE", &first, why, why_size);
	if (parsed != PF_CLI_OPERANDS)
		return parsed == PF_CLI_DONE;
	if (argc - first > 2) {
		snprintf(why, why_size, "too many operands: give CORE and at "
					"most one EXECUTABLE");
		return false;
	}
	opt->core = argv[first];
	opt->executable = first + 1 < argc ? argv[first + 1] : NULL;
	return true;
}
