#include "image/mem_recorder.h"

#include <stdlib.h>
#include <string.h>

static bool keep(struct pf_mem_recorder *rec, uint64_t addr, const void *buf,
		 size_t len)
{
	if (rec->count == rec->capacity) {
		size_t cap = rec->capacity ? 2 * rec->capacity : 256;
		void *grown = realloc(rec->reads, cap * sizeof *rec->reads);
		if (grown == NULL)
			return false;
		rec->reads = grown;
		rec->capacity = cap;
	}
	struct pf_recorded_read *r = &rec->reads[rec->count];
	r->bytes = malloc(len);
	if (r->bytes == NULL)
		return false;
	memcpy(r->bytes, buf, len);
	r->addr = addr;
	r->len = len;
	rec->count++;
	return true;
}

static bool read_recorded(struct pf_mem *mem, uint64_t addr, void *buf,
			  size_t len)
{
	struct pf_mem_recorder *rec = mem->backend;
	if (!rec->inner->read(rec->inner, addr, buf, len))
		return false;
	if (!keep(rec, addr, buf, len))
		rec->out_of_memory = true;
	return true;
}

void pf_mem_open_recorder(struct pf_mem *mem, struct pf_mem_recorder *rec,
			  struct pf_mem *inner)
{
	memset(rec, 0, sizeof *rec);
	rec->inner = inner;
	memset(mem, 0, sizeof *mem);
	mem->fd = -1;
	mem->backend = rec;
	mem->read = read_recorded;
}

static int by_address(const void *a, const void *b)
{
	const struct pf_recorded_read *x = *(const struct pf_recorded_read *const *)a;
	const struct pf_recorded_read *y = *(const struct pf_recorded_read *const *)b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The merged range that holds addr (ranges are sorted and disjoint). */
static struct pf_image_range *merged_at(struct pf_image *img, uint64_t addr)
{
	size_t lo = 0, hi = img->nranges;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (img->ranges[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	return &img->ranges[lo];
}

bool pf_mem_recorder_ranges(const struct pf_mem_recorder *rec,
			    struct pf_image *img)
{
	img->nranges = 0;
	img->ranges = NULL;
	img->owned = NULL;
	if (rec->count == 0)
		return true;
	const struct pf_recorded_read **sorted =
		malloc(rec->count * sizeof *sorted);
	img->ranges = malloc(rec->count * sizeof *img->ranges);
	if (sorted == NULL || img->ranges == NULL) {
		free(sorted);
		free(img->ranges);
		img->ranges = NULL;
		return false;
	}
	for (size_t i = 0; i < rec->count; i++)
		sorted[i] = &rec->reads[i];
	qsort(sorted, rec->count, sizeof *sorted, by_address);

	/* Extents first, with their offsets in one buffer ... */
	size_t total = 0;
	uint64_t end = 0;
	struct pf_image_range *cur = NULL;
	size_t *offsets = malloc(rec->count * sizeof *offsets);
	if (offsets == NULL) {
		free(sorted);
		free(img->ranges);
		img->ranges = NULL;
		return false;
	}
	for (size_t i = 0; i < rec->count; i++) {
		const struct pf_recorded_read *r = sorted[i];
		uint64_t r_end = r->addr + r->len;
		if (cur && r->addr <= end) {
			if (r_end > end) {
				total += r_end - end;
				end = r_end;
				cur->len = (uint32_t)(end - cur->addr);
			}
			continue;
		}
		cur = &img->ranges[img->nranges];
		offsets[img->nranges++] = total;
		*cur = (struct pf_image_range){r->addr, (uint32_t)r->len, NULL};
		total += r->len;
		end = r_end;
	}
	free(sorted);
	img->owned = malloc(total ? total : 1);
	if (img->owned == NULL) {
		free(offsets);
		free(img->ranges);
		img->ranges = NULL;
		img->nranges = 0;
		return false;
	}
	for (size_t i = 0; i < img->nranges; i++)
		img->ranges[i].bytes = img->owned + offsets[i];
	free(offsets);
	/* ... then the bytes, in the order they were read. */
	for (size_t i = 0; i < rec->count; i++) {
		const struct pf_recorded_read *r = &rec->reads[i];
		struct pf_image_range *m = merged_at(img, r->addr);
		memcpy((uint8_t *)m->bytes + (r->addr - m->addr), r->bytes,
		       r->len);
	}
	return true;
}

void pf_mem_recorder_free(struct pf_mem_recorder *rec)
{
	for (size_t i = 0; i < rec->count; i++)
		free(rec->reads[i].bytes);
	free(rec->reads);
	memset(rec, 0, sizeof *rec);
}
