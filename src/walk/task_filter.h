/* --current-thread-only with --tasks: the task section, like
 * faulthandler's text before it, keeps only the current thread's part. */
#ifndef PYFAULT_TASK_FILTER_H
#define PYFAULT_TASK_FILTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/snapshot.h"

/* Keeps the tasks of thread_id (its task list, or running in it) and its
 * event loops, with the links and deadlock cycles among them, renumbered
 * from 1.  False when memory runs out (list unchanged). */
bool pf_task_list_keep_thread(struct pf_task_list *list, uint64_t thread_id);

#endif
