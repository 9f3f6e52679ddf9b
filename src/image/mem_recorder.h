/* A memory backend that forwards every read to another one and keeps a
 * copy of what it returned, to be saved as a process image (mem_image.h). */
#ifndef PYFAULT_MEM_RECORDER_H
#define PYFAULT_MEM_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "image/mem_image.h"
#include "process/remote_mem.h"

struct pf_recorded_read {
	uint64_t addr;
	size_t len;
	uint8_t *bytes;
};

struct pf_mem_recorder {
	struct pf_mem *inner;
	size_t count, capacity;
	struct pf_recorded_read *reads;   /* in the order they were made */
	bool out_of_memory;               /* some read could not be kept */
};

/* mem reads through inner and records into rec (both must outlive mem). */
void pf_mem_open_recorder(struct pf_mem *mem, struct pf_mem_recorder *rec,
			  struct pf_mem *inner);

/* Sets img's ranges to what was read, overlapping reads merged (a later
 * read wins: the target may have run between two).  The bytes are owned
 * by img (img->owned).  Returns false when memory runs out. */
bool pf_mem_recorder_ranges(const struct pf_mem_recorder *rec,
			    struct pf_image *img);

void pf_mem_recorder_free(struct pf_mem_recorder *rec);

#endif
