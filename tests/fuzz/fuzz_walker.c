/* The walker (with --locals where the layout allows), the Extension
 * modules and thread names readers, the asyncio task walker and the
 * formatters on a mutated process image (mem_image.h): cycles in frame,
 * thread, task and await chains, pointers into nowhere, huge lengths,
 * strings of every kind.  Seeds: the recorded images of tests/data. */
#include <string.h>

#include "fuzz.h"
#include "image/mem_image.h"
#include "layout/layout_tables.h"
#include "walk/py_locals.h"
#include "walk/py_modules.h"
#include "walk/thread_names.h"
#include "dump/target_dump.h"
#include "dump/task_dump.h"
#include "format/task_format.h"
#include "walk/walker.h"

static void check_limits(const struct pf_snapshot *snap)
{
	PF_FUZZ_ASSERT(snap->nthreads <= PF_MAX_NTHREADS);
	for (size_t i = 0; i < snap->nthreads; i++) {
		const struct pf_thread_dump *t = &snap->threads[i];
		PF_FUZZ_ASSERT(t->nframes <= PF_MAX_FRAME_DEPTH);
		for (size_t f = 0; f < t->nframes; f++) {
			PF_FUZZ_ASSERT(t->frames[f].nlocals <= PF_MAX_LOCALS);
			PF_FUZZ_ASSERT(t->frames[f].filename->length <=
				       PF_MAX_STRING_LENGTH);
			PF_FUZZ_ASSERT(t->frames[f].name->length <=
				       PF_MAX_STRING_LENGTH);
		}
	}
	for (size_t i = 0; i < snap->modules.count; i++)
		PF_FUZZ_ASSERT(snap->modules.names[i].length <=
			       PF_MAX_STRING_LENGTH);
	const struct pf_task_list *tasks = &snap->tasks;
	PF_FUZZ_ASSERT(tasks->count <= PF_MAX_TASKS);
	for (size_t i = 0; i < tasks->count; i++) {
		const struct pf_task *t = &tasks->tasks[i];
		PF_FUZZ_ASSERT(t->nframes <= PF_MAX_FRAME_DEPTH);
		PF_FUZZ_ASSERT(t->name.length <= PF_MAX_STRING_LENGTH);
		for (size_t k = 0; k < t->nawaiting; k++)
			PF_FUZZ_ASSERT(t->awaiting[k] < tasks->count);
		for (size_t k = 0; k < t->nawaited_by; k++)
			PF_FUZZ_ASSERT(t->awaited_by[k] < tasks->count);
		PF_FUZZ_ASSERT(t->cycle <= tasks->ncycles);
	}
}

/* The task walk, as the recording made it, when the image has one. */
static void walk_tasks(const struct pf_image *img, struct pf_mem *mem,
		       const struct pf_target *target,
		       struct pf_snapshot *snap)
{
	struct pf_task_source source = {.found = PF_ASYNCIO_FOUND,
					.layout = img->asyncio,
					.awaits = img->awaits};
	if (img->has_asyncio) {
		char note[320];
		pf_task_collect(target, mem, &source, snap, note,
				sizeof note);
	}
}

/* The seeds were recorded before --locals and thread names: the offsets
 * they need, absent from the image, come from the shipped table's row for
 * the version, so that those readers run on the image's (mutated)
 * memory. */
static void fill_from_table(struct pf_layout *l)
{
	size_t count;
	const struct pf_layout_table_row *rows = pf_layout_table_rows(&count);
	for (size_t i = 0; i < count; i++) {
		if (rows[i].major != l->major || rows[i].minor != l->minor)
			continue;
#define FILL_(g, f)                                                           \
	if (l->g.f == PF_NO_OFFSET)                                          \
		l->g.f = rows[i].g##_##f;
		PF_LAYOUT_OFFSET_FIELDS(FILL_)
#undef FILL_
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pf_image img;
	struct pf_error err = {0};
	if (pf_image_parse(&img, data, size, &err) != PF_OK)
		return 0;
	struct pf_mem mem;
	struct pf_target target;
	struct pf_snapshot snap;
	pf_mem_open_image(&mem, &img);
	pf_image_target(&img, &target);
	fill_from_table(&target.layout);
	/* --locals wherever the image's layout has what it needs. */
	const char *missing;
	struct pf_walk_input in = {
		.pid = img.pid,
		.mem = &mem,
		.layout = &target.layout,
		.runtime = img.runtime,
		.interp_head = target.interp_head,
		.current = PF_CURRENT_GIL_HOLDER,
		.locals_types = pf_layout_locals_complete(&target.layout,
							  &missing)
					? &target.types
					: NULL,
	};
	if (pf_walk(&in, &snap, &err) == PF_OK) {
		if (target.layout.extension_modules_trailer)
			pf_read_extension_modules(&mem, &target, snap.interp,
						  &snap.modules, &err);
		pf_read_python_names(&mem, &target, &snap, &err);
		walk_tasks(&img, &mem, &target, &snap);
		check_limits(&snap);
		FILE *sink = pf_fuzz_sink();
		pf_write_threads(sink, &target, &snap, false, PF_NATIVE_NONE);
		pf_write_threads(sink, &target, &snap, true, PF_NATIVE_NONE);
		pf_format_tasks(sink, &snap.tasks, PF_TASKS_LIST);
		pf_format_tasks(sink, &snap.tasks, PF_TASKS_TREE);
		pf_snapshot_free(&snap);
	}
	pf_image_free(&img);
	return 0;
}
