/* The asyncio task registry of CPython 3.11-3.13 (and of 3.14+ without
 * _asyncio, whose tasks are pure-Python ones), read as all_tasks() and
 * current_task() read it: the module asyncio.tasks of sys.modules holds
 * the WeakSet of scheduled tasks (_all_tasks in 3.11, _scheduled_tasks
 * from 3.12), the set of eager tasks (3.12+) and the dict of the task each
 * loop runs (_current_tasks); with the _asyncio accelerator these are the
 * very objects of its state, which tasks.py imports from it. */
#ifndef PYFAULT_TASK_REGISTRY_H
#define PYFAULT_TASK_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "walk/py_dict.h"

struct pf_task_registry {
	bool loaded;            /* asyncio.tasks is in sys.modules */
	uint64_t ctask_type;    /* asyncio.tasks._CTask (_asyncio.Task), 0
	                           without the accelerator */
	uint64_t pytask_type;   /* asyncio.tasks._PyTask */
	uint64_t taskgroup_type; /* asyncio.taskgroups.TaskGroup, 0 when
	                           that module is not loaded */
	size_t ntasks;          /* the objects of both sets, sorted, once
	                           each: tasks, or anything else a
	                           corrupt set holds */
	uint64_t *tasks;
	size_t ncurrent;        /* _current_tasks: loop, running task */
	uint64_t (*current)[2];
};

/* Fills reg from the interpreter at interp of a stopped target.  What
 * cannot be read is named in note (one line; reg keeps what was read
 * before).  False only when memory runs out. */
bool pf_task_registry_read(const struct pf_reader *r, uint64_t interp,
			   struct pf_task_registry *reg, char *note,
			   size_t note_size);

void pf_task_registry_free(struct pf_task_registry *reg);

#endif
