/* Walks the asyncio tasks of a stopped CPython 3.11+ process, as
 * asyncio.all_tasks() and `python -m asyncio ps` see them: the task list of
 * every thread and of the interpreter (3.14+) or asyncio.tasks' registry
 * (3.11-3.13, and 3.14+ without _asyncio), each task's await chain and the
 * tasks awaiting it; then
 * links awaiters to awaited and names the cycles. */
#ifndef PYFAULT_TASK_WALKER_H
#define PYFAULT_TASK_WALKER_H

#include <stdint.h>

#include "base/snapshot.h"
#include "layout/asyncio_layout.h"
#include "layout/await_layout.h"
#include "layout/py_layout.h"
#include "process/remote_mem.h"

struct pf_task_walk_input {
	struct pf_mem *mem;
	const struct pf_layout *layout;
	const struct pf_asyncio_layout *asyncio;
	uint64_t coro_type;      /* PyCoro_Type, 0 when unknown */
	uint64_t gen_type;       /* PyGen_Type, 0 when unknown */
	const struct pf_await_layout *awaits;  /* NULL: none followed */
};

/* Fills snap->tasks; snap must hold a walk of the same stopped target
 * (its interpreter).  What cannot be read ends the list with a one-line
 * note in snap->tasks.note, never a made-up task.  Returns false only
 * when memory runs out. */
bool pf_walk_tasks(const struct pf_task_walk_input *in,
		   struct pf_snapshot *snap);

/* Whether layout has what pf_walk_tasks reads for the tasks of model;
 * *missing names the first field it lacks. */
bool pf_task_layout_complete(const struct pf_layout *layout,
			     enum pf_asyncio_model model,
			     const char **missing);

#endif
