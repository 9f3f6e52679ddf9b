/* The asyncio task section that --tasks adds after faulthandler's text:
 * each task with its await chain in faulthandler's frame format, what it
 * awaits and who awaits it, and the deadlock cycles; or (--tasks=tree) the
 * await tree, as `python -m asyncio pstree` draws it, in ASCII. */
#ifndef PYFAULT_TASK_FORMAT_H
#define PYFAULT_TASK_FORMAT_H

#include <stdbool.h>
#include <stdio.h>

#include "base/snapshot.h"

enum pf_tasks_view {
	PF_TASKS_NONE,
	PF_TASKS_LIST,   /* --tasks */
	PF_TASKS_TREE,   /* --tasks=tree */
};

/* Writes the section for tasks (nothing when it was not collected), after
 * a blank line.  False when memory runs out (the tree's bookkeeping). */
bool pf_format_tasks(FILE *out, const struct pf_task_list *tasks,
		     enum pf_tasks_view view);

#endif
