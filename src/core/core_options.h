/* pyfault-core's command line. */
#ifndef PYFAULT_CORE_OPTIONS_H
#define PYFAULT_CORE_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/cli_common.h"

struct core_options {
	struct pf_cli_common common;
	unsigned offset_sources;  /* PF_SOURCES_ALL or one source's bit */
	const char *sysroot;      /* --sysroot; NULL: / */
	const char *core;         /* the CORE operand; "-": stdin */
	const char *executable;   /* the EXECUTABLE operand; NULL: none */
};

/* Parses argv into opt.  Returns true, or false with a one-line reason in
 * why. */
bool core_parse_args(int argc, char **argv, struct core_options *opt,
		     char *why, size_t why_size);

#endif
