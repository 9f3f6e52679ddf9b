/* One dump of a stopped CPython process, shared by both commands: walk it,
 * then write faulthandler's text for its version. */
#ifndef PYFAULT_TARGET_DUMP_H
#define PYFAULT_TARGET_DUMP_H

#include <stdbool.h>
#include <stdio.h>

#include "format/dump_json.h"
#include "format/fh_format.h"
#include "layout/py_layout.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"
#include "base/snapshot.h"

/* How a dump shows the C frames of the threads (--native). */
enum pf_native_view {
	PF_NATIVE_DEFAULT,  /* as faulthandler of the target's version: the
	                       current thread's on fatal errors from 3.14 on */
	PF_NATIVE_NONE,
	PF_NATIVE_CURRENT,  /* faulthandler's c_stack=True: the current
	                       thread's C stack alone, after the tracebacks */
	PF_NATIVE_SECTION,  /* 3.14's C stack section after the tracebacks,
	                       for every thread */
	PF_NATIVE_MERGED,   /* one stack of C and Python frames per thread */
};

/* The view asked for, PF_NATIVE_DEFAULT resolved for this layout and this
 * kind of dump. */
enum pf_native_view pf_native_view_for(enum pf_native_view asked,
				       const struct pf_layout *layout,
				       bool fatal_error);

/* The version-dependent details of the text. */
struct pf_style pf_style_of(const struct pf_layout *layout);

/* Every thread (as faulthandler's all_threads=True), or with
 * current_thread_only only the current one as "Stack (most recent call
 * first):", with their C frames as native says (not PF_NATIVE_DEFAULT:
 * resolve it first); then the "Extension modules" line when snap->modules
 * has names (pf_read_extension_modules fills it for fatal errors).
 * Returns false when current_thread_only finds no current thread (nothing
 * is written then) or memory runs out. */
bool pf_write_threads(FILE *out, const struct pf_target *target,
		      const struct pf_snapshot *snap, bool current_thread_only,
		      enum pf_native_view native);

/* The same for a fatal signal, where a free-threaded build running without
 * the GIL shows only the faulting thread (3.14t), after a line that says so,
 * and no Python frames when that thread has no thread state. */
bool pf_write_fatal_threads(FILE *out, const struct pf_target *target,
			    const struct pf_snapshot *snap,
			    bool current_thread_only, enum pf_native_view native);

/* Whether a fatal-error dump shows the current thread only: asked for, or
 * a free-threaded 3.14 running without the GIL. */
bool pf_fatal_current_only(const struct pf_target *target,
			   const struct pf_snapshot *snap,
			   bool current_thread_only);

/* The "process" member of the JSON document for t, whose program is
 * executable (NULL: unknown). */
void pf_json_process_fill(const struct pf_target *t, const char *executable,
			  struct pf_json_process *process);

/* The same for a live process; exe receives the program /proc/PID/exe
 * names. */
void pf_json_process_of(const struct pf_target *t, char *exe,
			size_t exe_size, struct pf_json_process *process);

/* Makes sure the layout has what the thread status and the Python thread
 * names need, before the target is stopped: 3.13's _Py_DebugOffsets do
 * not give the size of the GIL state or dict internals, which the
 * target's DWARF does when it has some. */
void pf_target_status_layout(struct pf_target *t);

/* What the walk needs for --locals (struct pf_walk_input's
 * locals_types), before the target is stopped: the layout completed from
 * DWARF, or NULL after a one-line note on stderr from prog when it lacks
 * what locals need. */
const struct pf_object_types *pf_locals_types(const char *prog,
					      struct pf_target *t);

/* Reads the Python thread names into snap while the target is stopped,
 * for the dumps that show them (--status, JSON, --native=merged); a
 * layout without what they need gets a one-line note on stderr from
 * prog. */
void pf_dump_python_names(const char *prog, struct pf_mem *mem,
			  struct pf_target *t, struct pf_snapshot *snap);

#endif
