#include "image/image_dump.h"

#include "dump/task_dump.h"
#include "format/task_format.h"
#include "walk/py_modules.h"
#include "dump/target_dump.h"
#include "walk/walker.h"

enum pf_status pf_image_dump(const struct pf_image *img, FILE *out,
			     struct pf_error *err)
{
	struct pf_mem mem;
	struct pf_target target;
	struct pf_snapshot snap;
	pf_mem_open_image(&mem, img);
	pf_image_target(img, &target);
	struct pf_walk_input in = {
		.pid = img->pid,
		.mem = &mem,
		.layout = &target.layout,
		.runtime = img->runtime,
		.interp_head = target.interp_head,
		.current = PF_CURRENT_GIL_HOLDER,
	};
	enum pf_status st = pf_walk(&in, &snap, err);
	if (st != PF_OK)
		return st;
	pf_image_thread_names(img, &snap);
	if (target.layout.extension_modules_trailer) {
		struct pf_error ignored = {0};
		pf_read_extension_modules(&mem, &target, snap.interp,
					  &snap.modules, &ignored);
	}
	pf_write_threads(out, &target, &snap, false, PF_NATIVE_NONE);
	if (img->has_asyncio) {
		struct pf_task_source source = {.found = PF_ASYNCIO_FOUND,
						.layout = img->asyncio,
						.awaits = img->awaits};
		char note[320];
		if (!pf_task_collect(&target, &mem, &source, &snap, note,
				     sizeof note) ||
		    !pf_format_tasks(out, &snap.tasks, PF_TASKS_LIST))
			st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	}
	pf_snapshot_free(&snap);
	return st;
}
