/* The walker, the Extension modules reader and the formatter on a mutated
 * process image (mem_image.h): cycles in frame and thread chains, pointers
 * into nowhere, huge lengths, strings of every kind.  Seeds: the recorded
 * images of tests/data. */
#include <string.h>

#include "fuzz.h"
#include "image/mem_image.h"
#include "walk/py_modules.h"
#include "dump/target_dump.h"
#include "walk/walker.h"

static void check_limits(const struct pf_snapshot *snap)
{
	PF_FUZZ_ASSERT(snap->nthreads <= PF_MAX_NTHREADS);
	for (size_t i = 0; i < snap->nthreads; i++) {
		const struct pf_thread_dump *t = &snap->threads[i];
		PF_FUZZ_ASSERT(t->nframes <= PF_MAX_FRAME_DEPTH);
		for (size_t f = 0; f < t->nframes; f++) {
			PF_FUZZ_ASSERT(t->frames[f].filename->length <=
				       PF_MAX_STRING_LENGTH);
			PF_FUZZ_ASSERT(t->frames[f].name->length <=
				       PF_MAX_STRING_LENGTH);
		}
	}
	for (size_t i = 0; i < snap->modules.count; i++)
		PF_FUZZ_ASSERT(snap->modules.names[i].length <=
			       PF_MAX_STRING_LENGTH);
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
	struct pf_walk_input in = {
		.pid = img.pid,
		.mem = &mem,
		.layout = &target.layout,
		.runtime = img.runtime,
		.interp_head = target.interp_head,
		.current = PF_CURRENT_GIL_HOLDER,
	};
	if (pf_walk(&in, &snap, &err) == PF_OK) {
		if (target.layout.extension_modules_trailer)
			pf_read_extension_modules(&mem, &target, snap.interp,
						  &snap.modules, &err);
		check_limits(&snap);
		FILE *sink = pf_fuzz_sink();
		pf_write_threads(sink, &target, &snap, false, PF_NATIVE_NONE);
		pf_write_threads(sink, &target, &snap, true, PF_NATIVE_NONE);
		pf_snapshot_free(&snap);
	}
	pf_image_free(&img);
	return 0;
}
