#include "process/proc_maps.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_mapping(struct pf_maps *maps, const struct pf_mapping *m)
{
	if ((maps->count & (maps->count - 1)) == 0) {
		size_t cap = maps->count ? maps->count * 2 : 16;
		struct pf_mapping *items =
			realloc(maps->items, cap * sizeof *items);
		if (items == NULL)
			return -ENOMEM;
		maps->items = items;
	}
	maps->items[maps->count++] = *m;
	return 0;
}

int pf_maps_read(struct pf_maps *maps, pid_t pid)
{
	char name[64];
	snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
	memset(maps, 0, sizeof *maps);
	FILE *f = fopen(name, "re");
	if (f == NULL)
		return -errno;

	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		struct pf_mapping m = {0};
		int path_at = 0;
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64
				 " %x:%x %" SCNu64 " %n",
			   &m.start, &m.end, m.perms, &m.offset, &m.dev_major,
			   &m.dev_minor, &m.inode, &path_at) < 7)
			continue;
		char *path = line + path_at;
		path[strcspn(path, "\n")] = '\0';
		m.deleted = pf_maps_strip_deleted(path);
		if (path[0] == '/') {
			m.path = strdup(path);
			if (m.path == NULL)
				rc = -ENOMEM;
		}
		if (rc == 0)
			rc = add_mapping(maps, &m);
		if (rc != 0)
			free(m.path);
	}
	free(line);
	fclose(f);
	/* A zombie or a kernel thread has no mappings: not a process we can
	 * read. */
	if (rc == 0 && maps->count == 0)
		rc = -ESRCH;
	if (rc != 0)
		pf_maps_free(maps);
	return rc;
}

void pf_maps_free(struct pf_maps *maps)
{
	for (size_t i = 0; i < maps->count; i++)
		free(maps->items[i].path);
	free(maps->items);
	maps->items = NULL;
	maps->count = 0;
}

bool pf_maps_strip_deleted(char *path)
{
	static const char deleted[] = " (deleted)";
	size_t len = strlen(path), dlen = sizeof deleted - 1;
	if (len <= dlen || strcmp(path + len - dlen, deleted) != 0)
		return false;
	path[len - dlen] = '\0';
	return true;
}

const struct pf_mapping *pf_maps_find(const struct pf_maps *maps,
				      const char *path)
{
	for (size_t i = 0; i < maps->count; i++) {
		const struct pf_mapping *m = &maps->items[i];
		if (m->path && m->offset == 0 && strcmp(m->path, path) == 0)
			return m;
	}
	return NULL;
}
