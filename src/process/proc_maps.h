/* The target's file mappings, from /proc/PID/maps. */
#ifndef PYFAULT_PROC_MAPS_H
#define PYFAULT_PROC_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pf_mapping {
	uint64_t start, end, offset;
	char perms[5];
	unsigned dev_major, dev_minor;
	uint64_t inode;    /* with dev: the file mapped, even once replaced */
	char *path;        /* as the target names it; NULL for anonymous
	                      mappings */
	bool deleted;      /* unlinked since it was mapped: the kernel's
	                      " (deleted)", taken off path */
};

struct pf_maps {
	struct pf_mapping *items;
	size_t count;
};

/* Returns 0, or -errno (-ENOENT/-ESRCH: no such process). */
int pf_maps_read(struct pf_maps *maps, pid_t pid);
void pf_maps_free(struct pf_maps *maps);

/* The mapping of path's start (file offset 0), where its first PT_LOAD
 * segment lies; NULL if it is not mapped. */
const struct pf_mapping *pf_maps_find(const struct pf_maps *maps,
				      const char *path);

/* Takes the kernel's " (deleted)" off a path from the maps or from
 * /proc/PID/exe; true if it was there. */
bool pf_maps_strip_deleted(char *path);

#endif
