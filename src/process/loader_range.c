#include "process/loader_range.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "process/proc_maps.h"

static uint64_t loader_base(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_auxv_t aux;
	uint64_t base = 0;
	while (base == 0 && read(fd, &aux, sizeof aux) == sizeof aux &&
	       aux.a_type != AT_NULL)
		if (aux.a_type == AT_BASE)
			base = aux.a_un.a_val;
	close(fd);
	return base;
}

bool pf_loader_range_find(struct pf_loader_range *range, pid_t pid)
{
	*range = (struct pf_loader_range){0};
	uint64_t base = loader_base(pid);
	struct pf_maps maps;
	if (base == 0 || pf_maps_read(&maps, pid) != 0)
		return false;
	const char *loader = NULL;
	for (size_t i = 0; i < maps.count && loader == NULL; i++)
		if (maps.items[i].start == base)
			loader = maps.items[i].path;
	for (size_t i = 0; loader && i < maps.count; i++) {
		const struct pf_mapping *m = &maps.items[i];
		if (m->path == NULL || strcmp(m->path, loader) != 0)
			continue;
		if (range->end == 0 || m->start < range->start)
			range->start = m->start;
		if (m->end > range->end)
			range->end = m->end;
	}
	pf_maps_free(&maps);
	return range->end != 0;
}
