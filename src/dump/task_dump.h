/* --tasks for both commands: the asyncio layout found while the target
 * runs, the task walk while it is stopped, and what to say when there is
 * nothing to walk. */
#ifndef PYFAULT_TASK_DUMP_H
#define PYFAULT_TASK_DUMP_H

#include <stdbool.h>
#include <stdio.h>

#include "base/snapshot.h"
#include "layout/asyncio_layout.h"
#include "layout/await_layout.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"

struct pf_task_source {
	enum pf_asyncio_found found;
	struct pf_asyncio_layout layout;
	char note[320];     /* why not PF_ASYNCIO_FOUND */
	struct pf_await_layout awaits;
	char awaits_note[sizeof ((struct pf_error *)0)->message + 64];
	                    /* for -v: why awaitables are not followed */
	char awaits_detail[700]; /* for -v: where their offsets came from */
	/* Read only the bytes the walk uses, not whole pages: for recording
	 * images, which must hold no more of the target than that. */
	bool exact_reads;
};

/* Before the target is stopped: where its tasks are, and the set layout
 * that the awaited_by sets need (from DWARF, as the "Extension modules"
 * line takes it). */
void pf_task_source_find(struct pf_target *t,
			 const struct pf_target_view *view, struct pf_mem *mem,
			 struct pf_task_source *source);

/* For -v: where the task and await chain offsets came from (DWARF, the
 * offset cache, a shipped row, _AsyncioDebug), and why those of the await
 * chains are unknown, one line each, after "PROG: ". */
void pf_task_source_report(FILE *out, const char *prog,
			   const struct pf_task_source *source);

/* While the target is stopped, after pf_walk filled snap: its tasks into
 * snap->tasks.  An unknown layout is a note in the section; no asyncio (or
 * none in use: no task and no running loop) leaves the section out and
 * puts the reason in verbose_note.  False when memory runs out. */
bool pf_task_collect(const struct pf_target *t, struct pf_mem *mem,
		     const struct pf_task_source *source,
		     struct pf_snapshot *snap, char *verbose_note,
		     size_t note_size);

/* --current-thread-only: the tasks of the current thread only (its task
 * list and event loop), as faulthandler's text shows that thread only;
 * none, and no section, when there is no current thread.  False when
 * memory runs out. */
bool pf_task_keep_current(struct pf_snapshot *snap);

#endif
