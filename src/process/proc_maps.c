#include "process/proc_maps.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
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

/* The digits in base (10 or 16) at *p, moved past; false if there are
 * none or they overflow.  strtoull, which also takes signs, prefixes and
 * leading blanks the kernel never writes, costs a fifth of the read. */
static bool number(char **p, unsigned base, uint64_t *value)
{
	char *s = *p;
	uint64_t v = 0;
	for (;; s++) {
		unsigned c = (unsigned char)*s, digit;
		if (c - '0' < 10)
			digit = c - '0';
		else if (base == 16 && (c | 0x20) - 'a' < 6)
			digit = (c | 0x20) - 'a' + 10;
		else
			break;
		if (__builtin_mul_overflow(v, base, &v) ||
		    __builtin_add_overflow(v, digit, &v))
			return false;
	}
	if (s == *p)
		return false;
	*value = v;
	*p = s;
	return true;
}

/* One field of a maps line: a number in base, then the separator sep
 * (any whitespace for ' '); false if the line is not that. */
static bool field(char **p, unsigned base, char sep, uint64_t *value)
{
	char *end = *p;
	if (!number(&end, base, value) ||
	    (sep == ' ' ? !isspace((unsigned char)*end) : *end != sep))
		return false;
	*p = end + 1;
	return true;
}

/* "start-end perms offset major:minor inode   path": parsed by hand, as
 * sscanf for each of a few hundred lines costs as much as the kernel's
 * writing them. */
static bool parse_line(char *line, struct pf_mapping *m, char **path)
{
	char *p = line;
	uint64_t major, minor;
	size_t plen;
	if (!field(&p, 16, '-', &m->start) || !field(&p, 16, ' ', &m->end))
		return false;
	plen = strcspn(p, " \t\n");
	if (plen == 0 || plen >= sizeof m->perms)
		return false;
	memcpy(m->perms, p, plen);
	m->perms[plen] = '\0';
	p += plen;
	if (!isspace((unsigned char)*p++) || !field(&p, 16, ' ', &m->offset) ||
	    !field(&p, 16, ':', &major) || !field(&p, 16, ' ', &minor) ||
	    major > UINT_MAX || minor > UINT_MAX)
		return false;
	m->dev_major = (unsigned)major;
	m->dev_minor = (unsigned)minor;
	/* The inode ends the line of an anonymous mapping. */
	if (!number(&p, 10, &m->inode))
		return false;
	while (isspace((unsigned char)*p))
		p++;
	p[strcspn(p, "\n")] = '\0';
	*path = p;
	return true;
}

int pf_maps_read(struct pf_maps *maps, pid_t pid)
{
	char name[64];
	snprintf(name, sizeof name, "/proc/%d/maps", (int)pid);
	memset(maps, 0, sizeof *maps);
	FILE *f = fopen(name, "re");
	if (f == NULL)
		return -errno;
	/* Some pages a read, not 1 KiB (stdio's size for /proc files). */
	char buffer[16384];
	setvbuf(f, buffer, _IOFBF, sizeof buffer);

	char *line = NULL;
	size_t cap = 0;
	int rc = 0;
	while (rc == 0 && getline(&line, &cap, f) > 0) {
		struct pf_mapping m = {0};
		char *path;
		if (!parse_line(line, &m, &path))
			continue;
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
