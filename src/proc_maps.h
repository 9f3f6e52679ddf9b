/* The target's file mappings, from /proc/PID/maps. */
#ifndef PYFAULT_PROC_MAPS_H
#define PYFAULT_PROC_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct pf_mapping {
	uint64_t start, end, offset;
	char perms[5];
	char *path;        /* NULL for anonymous mappings */
};

struct pf_maps {
	struct pf_mapping *items;
	size_t count;
};

/* Returns 0, or -errno (-ENOENT/-ESRCH: no such process). */
int pf_maps_read(struct pf_maps *maps, pid_t pid);
void pf_maps_free(struct pf_maps *maps);

/* The lowest address at which path is mapped, i.e. where its first
 * PT_LOAD segment (file offset 0) lies; 0 if it is not mapped. */
uint64_t pf_maps_base(const struct pf_maps *maps, const char *path);

#endif
