#include "layout/interp_scan.h"

#include <stdlib.h>
#include <string.h>

/* Read at once; .data and .bss of libpython are a few hundred KiB. */
#define CHUNK (64u * 1024)

/* Bounds the thread states checked per candidate. */
#define MAX_THREADS 4096

/* Every thread state of the candidate's list points back at it, and the
 * list ends.  A structure pointing at itself (a type object's ob_type, an
 * empty list head) would pass a check of the first one alone when the two
 * offsets coincide, as they do in 2.7. */
static bool is_interpreter(struct pf_mem *mem, const struct pf_layout *l,
			   uint64_t candidate)
{
	uint64_t tstate, back, next;
	if (candidate == 0 || candidate % 8 != 0 ||
	    !pf_mem_read_u64(mem, candidate + l->interp.next, &next) ||
	    !pf_mem_read_u64(mem, candidate + l->interp.threads_head,
			     &tstate) ||
	    tstate == 0)
		return false;
	for (int i = 0; tstate != 0; i++) {
		if (i == MAX_THREADS || tstate % 8 != 0 ||
		    tstate == candidate ||
		    !pf_mem_read_u64(mem, tstate + l->tstate.interp, &back) ||
		    back != candidate ||
		    !pf_mem_read_u64(mem, tstate + l->tstate.next, &tstate))
			return false;
	}
	return true;
}

/* The interpreter state is allocated (malloc): a pointer to it points
 * into writable memory that no file backs.  Checking that first spares a
 * read of the target for most words. */
static bool in_allocated_memory(const struct pf_maps *maps, uint64_t addr)
{
	size_t lo = 0, hi = maps->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct pf_mapping *m = &maps->items[mid];
		if (addr < m->start)
			hi = mid;
		else if (addr >= m->end)
			lo = mid + 1;
		else
			return m->path == NULL && m->perms[1] == 'w';
	}
	return false;
}

static bool scan_range(struct pf_mem *mem, const struct pf_maps *maps,
		       const struct pf_layout *l, uint64_t start, uint64_t end,
		       uint8_t *buf, uint64_t *addr)
{
	for (uint64_t at = start; at < end; at += CHUNK) {
		size_t len = end - at < CHUNK ? (size_t)(end - at) : CHUNK;
		if (!pf_mem_read(mem, at, buf, len))
			continue;
		for (size_t i = 0; i + 8 <= len; i += 8) {
			uint64_t word;
			memcpy(&word, buf + i, 8);
			if (in_allocated_memory(maps, word) &&
			    is_interpreter(mem, l, word)) {
				*addr = at + i;
				return true;
			}
		}
	}
	return false;
}

bool pf_scan_interp_head(struct pf_mem *mem, const struct pf_maps *maps,
			 const char *object_path,
			 const struct pf_layout *layout, uint64_t *addr)
{
	uint8_t *buf = malloc(CHUNK);
	bool found = false;
	if (buf == NULL)
		return false;
	for (size_t i = 0; i < maps->count && !found; i++) {
		const struct pf_mapping *m = &maps->items[i];
		if (m->path == NULL || strcmp(m->path, object_path) != 0 ||
		    m->perms[1] != 'w')
			continue;
		found = scan_range(mem, maps, layout, m->start, m->end, buf,
				   addr);
		/* .bss beyond the file's last page is anonymous memory. */
		const struct pf_mapping *after = i + 1 < maps->count
							 ? &maps->items[i + 1]
							 : NULL;
		if (!found && after && after->path == NULL &&
		    after->start == m->end && after->perms[1] == 'w')
			found = scan_range(mem, maps, layout, after->start,
					   after->end, buf, addr);
	}
	free(buf);
	return found;
}
