/* The --status header: one line per thread with its OS thread id, name,
 * whether it holds the GIL and what it is doing.  It precedes
 * faulthandler's text, which stays byte for byte as faulthandler writes
 * it. */
#ifndef PYFAULT_STATUS_FORMAT_H
#define PYFAULT_STATUS_FORMAT_H

#include <stdbool.h>
#include <stdio.h>

#include "base/snapshot.h"

/* "Thread status:", a line per thread as the dump lists them (only the
 * current one with current_thread_only), those of each further
 * interpreter after a line "Interpreter ID:", then a blank line. */
void pf_format_status(FILE *out, const struct pf_snapshot *snap,
		      bool current_thread_only);

/* "running", "waiting for the GIL", "in read()", "unknown". */
void pf_format_thread_state(FILE *out, const struct pf_thread_status *s);

#endif
