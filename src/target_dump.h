/* One dump of a stopped CPython process, shared by both commands: walk it,
 * then write faulthandler's text for its version. */
#ifndef PYFAULT_TARGET_DUMP_H
#define PYFAULT_TARGET_DUMP_H

#include <stdbool.h>
#include <stdio.h>

#include "fh_format.h"
#include "py_layout.h"
#include "snapshot.h"

/* The version-dependent details of the text. */
struct pf_style pf_style_of(const struct pf_layout *layout);

/* Every thread (as faulthandler's all_threads=True), or with
 * current_thread_only only the current one as "Stack (most recent call
 * first):"; then the "Extension modules" line when snap->modules has names
 * (pf_read_extension_modules fills it for fatal errors).  Returns false
 * when current_thread_only finds no current thread (nothing is written
 * then). */
bool pf_write_threads(FILE *out, const struct pf_layout *layout,
		      const struct pf_snapshot *snap, bool current_thread_only);

/* The same for a fatal signal, where a free-threaded build running without
 * the GIL shows only the faulting thread (3.14t), after a line that says so,
 * and nothing when that thread has no thread state. */
bool pf_write_fatal_threads(FILE *out, const struct pf_layout *layout,
			    const struct pf_snapshot *snap,
			    bool current_thread_only);

#endif
