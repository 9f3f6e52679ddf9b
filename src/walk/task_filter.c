#include "walk/task_filter.h"

#include <stdlib.h>
#include <string.h>

#include "walk/py_string.h"

/* The indices of links[0..*n) that map keeps, renumbered in place. */
static void remap(size_t *links, size_t *n, const size_t *map)
{
	size_t kept = 0;
	for (size_t k = 0; k < *n; k++)
		if (map[links[k]] != SIZE_MAX)
			links[kept++] = map[links[k]];
	*n = kept;
}

static void free_task(struct pf_task *t)
{
	pf_text_free(&t->name);
	free(t->frames);
	free(t->awaited_by);
	free(t->awaiting);
	free(t->awaiter_ids);
}

bool pf_task_list_keep_thread(struct pf_task_list *list, uint64_t thread_id)
{
	size_t n = list->count, kept = 0;
	size_t *map = malloc((n ? n : 1) * sizeof *map);
	unsigned *cycles = calloc(list->ncycles + 1, sizeof *cycles);
	if (map == NULL || cycles == NULL) {
		free(map);
		free(cycles);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		map[i] = list->tasks[i].thread_id == thread_id ? kept++
							       : SIZE_MAX;
	/* A cycle is within one thread (one loop's tasks await each other):
	 * it stays whole or goes, and keeps its order. */
	unsigned ncycles = 0;
	for (size_t i = 0, j = 0; i < n; i++) {
		struct pf_task *t = &list->tasks[i];
		if (map[i] == SIZE_MAX) {
			free_task(t);
			continue;
		}
		remap(t->awaited_by, &t->nawaited_by, map);
		remap(t->awaiting, &t->nawaiting, map);
		if (t->cycle != 0 && t->cycle <= list->ncycles) {
			if (cycles[t->cycle] == 0)
				cycles[t->cycle] = ++ncycles;
			t->cycle = cycles[t->cycle];
		}
		list->tasks[j++] = *t;
	}
	list->count = kept;
	list->ncycles = ncycles;
	size_t loops = 0;
	for (size_t i = 0; i < list->nloops; i++)
		if (list->loops[i].thread_id == thread_id)
			list->loops[loops++] = list->loops[i];
	list->nloops = loops;
	free(map);
	free(cycles);
	return true;
}
