/* One dump of a stopped CPython process, shared by both commands: walk it,
 * then write faulthandler's text for its version. */
#ifndef PYFAULT_TARGET_DUMP_H
#define PYFAULT_TARGET_DUMP_H

#include <stdbool.h>
#include <stdio.h>

#include "dump_json.h"
#include "fh_format.h"
#include "py_layout.h"
#include "py_target.h"
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

/* The "process" member of the JSON document for t; exe receives the
 * program /proc/PID/exe names. */
void pf_json_process_of(const struct pf_target *t, char *exe,
			size_t exe_size, struct pf_json_process *process);

/* Makes sure the layout has what the thread status needs, before the
 * target is stopped: 3.13's _Py_DebugOffsets do not give the size of the
 * GIL state, which the target's DWARF does when it has some. */
void pf_target_status_layout(struct pf_target *t);

#endif
