#include "dump/task_dump.h"

#include <stdio.h>
#include <string.h>

#include "process/mem_cache.h"
#include "walk/task_filter.h"
#include "walk/task_walker.h"

void pf_task_source_find(struct pf_target *t,
			 const struct pf_target_view *view, struct pf_mem *mem,
			 struct pf_task_source *source)
{
	memset(source, 0, sizeof *source);
	source->awaits = PF_AWAIT_LAYOUT_NONE;
	source->found = pf_asyncio_layout_find(t, view, mem, &source->layout,
					       source->note,
					       sizeof source->note);
	if (source->found != PF_ASYNCIO_FOUND)
		return;
	if (source->layout.model == PF_ASYNCIO_REGISTRY)
		pf_target_registry_layout(t);
	else
		pf_target_modules_layout(t);
	const char *missing;
	if (source->layout.model == PF_ASYNCIO_REGISTRY &&
	    t->layout.coro.gi_iframe != PF_NO_OFFSET &&
	    !pf_task_layout_complete(&t->layout, PF_ASYNCIO_REGISTRY,
				     &missing)) {
		/* 3.14+ without _asyncio: asyncio may well not be imported,
		 * which only a registry that cannot be read would tell. */
		snprintf(source->note, sizeof source->note,
			 "no asyncio task section: process %d has not "
			 "loaded _asyncio, and its pure-Python tasks, if any, "
			 "need DWARF (no %s)",
			 (int)t->pid, missing);
		source->found = PF_ASYNCIO_ABSENT;
		return;
	}
	pf_await_layout_find(t,
			     source->layout.read_path[0] ? source->layout.read_path
							 : NULL,
			     source->layout.build_id, &source->awaits,
			     source->awaits_detail,
			     sizeof source->awaits_detail, source->awaits_note,
			     sizeof source->awaits_note);
}

void pf_task_source_report(FILE *out, const char *prog,
			   const struct pf_task_source *source)
{
	if (source->found == PF_ASYNCIO_FOUND)
		fprintf(out, "%s: asyncio task offsets from %s\n", prog,
			source->layout.source_detail);
	if (source->awaits_detail[0] != '\0')
		fprintf(out, "%s: await chain offsets: %s\n", prog,
			source->awaits_detail);
	if (source->awaits_note[0] != '\0')
		fprintf(out, "%s: %s\n", prog, source->awaits_note);
}

bool pf_task_collect(const struct pf_target *t, struct pf_mem *mem,
		     const struct pf_task_source *source,
		     struct pf_snapshot *snap, char *verbose_note,
		     size_t note_size)
{
	verbose_note[0] = '\0';
	if (source->found == PF_ASYNCIO_ABSENT) {
		snprintf(verbose_note, note_size, "%s", source->note);
		return true;
	}
	if (source->found == PF_ASYNCIO_UNKNOWN) {
		pf_task_list_free(&snap->tasks);
		snap->tasks.collected = true;
		snprintf(snap->tasks.note, sizeof snap->tasks.note, "%s",
			 source->note);
		return true;
	}
	/* Thousands of tasks, their coroutines and frames lie close
	 * together: one read per page of a live target, not several per
	 * object. */
	if (!source->exact_reads)
		pf_mem_cache_begin(mem);
	const struct pf_task_walk_input in = {
		.mem = mem,
		.layout = &t->layout,
		.asyncio = &source->layout,
		.coro_type = t->coro_type,
		.gen_type = t->gen_type,
		.awaits = &source->awaits,
	};
	bool ok = pf_walk_tasks(&in, snap);
	pf_mem_cache_end(mem);
	if (!ok)
		return false;
	struct pf_task_list *list = &snap->tasks;
	if (list->count == 0 && list->nloops == 0 && list->note[0] == '\0') {
		/* A built-in _asyncio has its section whether or not asyncio
		 * was ever imported. */
		list->collected = false;
		snprintf(verbose_note, note_size,
			 "no asyncio task section: process %d has no asyncio "
			 "task and no running event loop",
			 (int)t->pid);
	}
	return true;
}

bool pf_task_keep_current(struct pf_snapshot *snap)
{
	const struct pf_thread_dump *current = pf_snapshot_current_python(snap);
	if (!snap->tasks.collected)
		return true;
	if (current == NULL) {
		/* No current thread: faulthandler's text is empty, and so is
		 * the current thread's part of the tasks. */
		pf_task_list_free(&snap->tasks);
		return true;
	}
	return pf_task_list_keep_thread(&snap->tasks, current->thread_id);
}
