/* pyfault-attach's command line. */
#ifndef PYFAULT_ATTACH_OPTIONS_H
#define PYFAULT_ATTACH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cli/cli_common.h"
#include "layout/py_layout.h"

struct attach_options {
	struct pf_cli_common common;
	unsigned offset_sources;  /* PF_SOURCES_ALL or one source's bit */
	size_t npids;
	pid_t *pids;          /* points into storage the caller owns */
};

/* Parses argv into opt, pids having room for argc entries.  Returns true,
 * or false with a one-line reason in why. */
bool attach_parse_args(int argc, char **argv, struct attach_options *opt,
		       pid_t *pids, char *why, size_t why_size);

#endif
