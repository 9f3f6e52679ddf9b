#include "walk/task_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest set read, in slots: a million pending tasks is far past
 * PF_MAX_TASKS anyway. */
#define MAX_SET_SLOTS (1u << 22)
/* The most entries read from _current_tasks (one per running loop). */
#define MAX_CURRENT 4096

static int compare_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/* Appends the keys of the set at addr to reg->tasks, each through its
 * weakref's referent when weak: a WeakSet keeps weakref.ref objects in
 * its data set. */
static bool add_set(const struct pf_reader *r, uint64_t addr, bool weak,
		    struct pf_task_registry *reg, char *note,
		    size_t note_size, const char *what)
{
	const struct pf_layout *l = r->l;
	int64_t mask;
	uint64_t table;
	if (!pf_mem_read(r->mem, addr + (uint64_t)l->set.mask, &mask,
			 sizeof mask) ||
	    !pf_mem_read_u64(r->mem, addr + (uint64_t)l->set.table, &table) ||
	    mask < 0 || (uint64_t)mask >= MAX_SET_SLOTS) {
		snprintf(note, note_size,
			 "cannot read asyncio's %s set at 0x%llx", what,
			 (unsigned long long)addr);
		return true;
	}
	size_t n = (size_t)mask + 1;
	uint64_t *tasks = realloc(reg->tasks,
				  (reg->ntasks + n) * sizeof *tasks);
	if (tasks == NULL)
		return false;
	reg->tasks = tasks;
	struct pf_array slots;
	pf_array_init(&slots, r->mem, table, (size_t)l->set_entry.size,
		      (int64_t)n);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *slot = pf_array_at(&slots, (int64_t)i);
		uint64_t key, obj;
		if (slot == NULL) {
			snprintf(note, note_size,
				 "cannot read asyncio's %s set at 0x%llx",
				 what, (unsigned long long)addr);
			return true;
		}
		key = pf_field_u64(slot, l->set_entry.key);
		if (key == 0)
			continue;
		if (weak && !pf_mem_read_u64(r->mem,
					     key + (uint64_t)l->weakref.wr_object,
					     &obj))
			continue;
		tasks[reg->ntasks++] = weak ? obj : key;
	}
	return true;
}

static bool add_current(const struct pf_reader *r, uint64_t dict,
			struct pf_task_registry *reg)
{
	struct pf_dict_iter it;
	uint64_t loop, task;
	if (dict == 0 || !pf_dict_iter_init(&it, r, dict))
		return true;
	while (reg->ncurrent < MAX_CURRENT && pf_dict_next(&it, &loop, &task)) {
		uint64_t(*current)[2] = realloc(
			reg->current, (reg->ncurrent + 1) * sizeof *current);
		if (current == NULL)
			return false;
		reg->current = current;
		current[reg->ncurrent][0] = loop;
		current[reg->ncurrent++][1] = task;
	}
	return true;
}

bool pf_task_registry_read(const struct pf_reader *r, uint64_t interp,
			   struct pf_task_registry *reg, char *note,
			   size_t note_size)
{
	const struct pf_layout *l = r->l;
	uint64_t modules, module, dict, scheduled, data, eager;
	memset(reg, 0, sizeof *reg);
	if (!pf_mem_read_u64(r->mem, interp + (uint64_t)l->interp.modules,
			     &modules) ||
	    (module = pf_dict_get(r, modules, "asyncio.tasks")) == 0)
		return true;
	reg->loaded = true;
	if (!pf_mem_read_u64(r->mem, module + (uint64_t)l->module.md_dict,
			     &dict)) {
		snprintf(note, note_size,
			 "cannot read the dict of module asyncio.tasks");
		return true;
	}
	uint64_t groups = pf_dict_get(r, modules, "asyncio.taskgroups"),
		 groups_dict;
	if (groups != 0 &&
	    pf_mem_read_u64(r->mem, groups + (uint64_t)l->module.md_dict,
			    &groups_dict))
		reg->taskgroup_type = pf_dict_get(r, groups_dict, "TaskGroup");
	reg->ctask_type = pf_dict_get(r, dict, "_CTask");
	reg->pytask_type = pf_dict_get(r, dict, "_PyTask");
	scheduled = pf_dict_get(r, dict, "_scheduled_tasks");
	if (scheduled == 0)
		scheduled = pf_dict_get(r, dict, "_all_tasks");
	data = scheduled ? pf_instance_attr(r, scheduled, "data") : 0;
	if (data == 0) {
		snprintf(note, note_size,
			 "asyncio.tasks has no readable WeakSet of tasks");
		return true;
	}
	if (!add_set(r, data, true, reg, note, note_size, "scheduled tasks"))
		return false;
	eager = pf_dict_get(r, dict, "_eager_tasks");
	if (eager != 0 &&
	    !add_set(r, eager, false, reg, note, note_size, "eager tasks"))
		return false;
	if (reg->ntasks > 0) {
		qsort(reg->tasks, reg->ntasks, sizeof *reg->tasks,
		      compare_u64);
		size_t kept = 1;
		for (size_t i = 1; i < reg->ntasks; i++)
			if (reg->tasks[i] != reg->tasks[kept - 1])
				reg->tasks[kept++] = reg->tasks[i];
		reg->ntasks = kept;
	}
	return add_current(r, pf_dict_get(r, dict, "_current_tasks"), reg);
}

void pf_task_registry_free(struct pf_task_registry *reg)
{
	free(reg->tasks);
	free(reg->current);
	memset(reg, 0, sizeof *reg);
}
