/* The _Py_DebugOffsets validator, and the walker on whatever layout it lets
 * through: offsets at the very end of their struct, sizes of zero or
 * beyond reason, wrapping differences.  Input: the memory at _PyRuntime.
 * Seed: the start of _PyRuntime recorded from CPython 3.13. */
#include <string.h>

#include "fuzz.h"
#include "layout/layout_debug_offsets.h"
#include "image/mem_image.h"
#include "dump/target_dump.h"
#include "walk/walker.h"

#define RUNTIME 0x100000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || size > UINT32_MAX)
		return 0;
	uint8_t *copy = malloc(size);
	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	struct pf_image_range range = {RUNTIME, (uint32_t)size, copy};
	struct pf_image img = {.nranges = 1, .ranges = &range};
	struct pf_mem mem;
	pf_mem_open_image(&mem, &img);

	uint64_t hex;
	bool free_threaded;
	struct pf_layout l;
	struct pf_error err = {0};
	const char *missing;
	/* 3.13's declaration, or 3.14's when the input says 3.14+. */
	unsigned minor = 13;
	if (pf_debug_offsets_version(&mem, RUNTIME, &hex, &free_threaded) &&
	    (hex >> 24 & 0xff) == 3 && (hex >> 16 & 0xff) > 13 &&
	    (hex >> 16 & 0xff) <= PF_NEWEST_KNOWN_MINOR + 1)
		minor = hex >> 16 & 0xff;
	if (pf_layout_init_version(&l, 3, minor, 0) &&
	    pf_layout_from_debug_offsets(&l, &mem, RUNTIME, &err) == PF_OK &&
	    pf_layout_complete(&l, &missing)) {
		struct pf_snapshot snap;
		struct pf_target target = {.layout = l};
		struct pf_walk_input in = {
			.mem = &mem,
			.layout = &l,
			.runtime = RUNTIME,
			.interp_head =
				RUNTIME + (uint64_t)l.runtime.interpreters_head,
			.current = PF_CURRENT_GIL_HOLDER,
		};
		if (pf_walk(&in, &snap, &err) == PF_OK) {
			pf_write_threads(pf_fuzz_sink(), &target, &snap, false,
					 PF_NATIVE_NONE);
			pf_snapshot_free(&snap);
		}
	}
	free(copy);
	return 0;
}
