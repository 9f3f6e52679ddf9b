#include "process/page_cache.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096u
/* Reads this long gain nothing from the cache. */
#define DIRECT_READ (16u * PAGE)

struct slot {
	uint64_t page;      /* 0: empty (the first page is never read) */
	uint8_t *data;      /* NULL: the page cannot be read */
};

struct pf_page_cache {
	struct pf_mem *under;
	struct slot *slots;
	size_t capacity, used;  /* capacity a power of two */
	size_t bytes, max_bytes;
};

static struct slot *find(struct pf_page_cache *c, uint64_t page)
{
	size_t i = (size_t)((page / PAGE) * 0x9e3779b97f4a7c15ull) &
		   (c->capacity - 1);
	while (c->slots[i].page != 0 && c->slots[i].page != page)
		i = (i + 1) & (c->capacity - 1);
	return &c->slots[i];
}

static bool grow(struct pf_page_cache *c)
{
	struct pf_page_cache bigger = *c;
	bigger.capacity = 2 * c->capacity;
	bigger.slots = calloc(bigger.capacity, sizeof *bigger.slots);
	if (bigger.slots == NULL)
		return false;
	for (size_t i = 0; i < c->capacity; i++)
		if (c->slots[i].page != 0)
			*find(&bigger, c->slots[i].page) = c->slots[i];
	free(c->slots);
	*c = bigger;
	return true;
}

/* The page at page, read on first use; NULL when it cannot be read or
 * the cache is full. */
static const uint8_t *page_data(struct pf_page_cache *c, uint64_t page)
{
	struct slot *s = find(c, page);
	if (s->page == page)
		return s->data;
	if (c->bytes + PAGE > c->max_bytes ||
	    (2 * (c->used + 1) > c->capacity && !grow(c)))
		return NULL;
	s = find(c, page);
	uint8_t *data = malloc(PAGE);
	if (data == NULL)
		return NULL;
	if (!pf_mem_read(c->under, page, data, PAGE)) {
		free(data);
		data = NULL;
	} else {
		c->bytes += PAGE;
	}
	*s = (struct slot){page, data};
	c->used++;
	return data;
}

static bool read_cached(struct pf_mem *mem, uint64_t addr, void *buf,
			size_t len)
{
	struct pf_page_cache *c = mem->backend;
	if (len > DIRECT_READ)
		return pf_mem_read(c->under, addr, buf, len);
	size_t done = 0;
	while (done < len) {
		uint64_t at = addr + done, page = at & ~(uint64_t)(PAGE - 1);
		size_t off = (size_t)(at - page), n = PAGE - off;
		if (n > len - done)
			n = len - done;
		const uint8_t *data = page_data(c, page);
		/* An unreadable page (or a full cache): the read as asked,
		 * which tells as the reader below tells. */
		if (data == NULL)
			return pf_mem_read(c->under, addr, buf, len);
		memcpy((uint8_t *)buf + done, data + off, n);
		done += n;
	}
	return true;
}

struct pf_page_cache *pf_page_cache_open(struct pf_mem *cached,
					 struct pf_mem *under,
					 size_t max_bytes)
{
	struct pf_page_cache *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->under = under;
	c->capacity = 1024;
	c->max_bytes = max_bytes;
	c->slots = calloc(c->capacity, sizeof *c->slots);
	if (c->slots == NULL) {
		free(c);
		return NULL;
	}
	*cached = (struct pf_mem){.read = read_cached, .fd = -1, .backend = c};
	return c;
}

void pf_page_cache_close(struct pf_page_cache *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->capacity; i++)
		free(c->slots[i].data);
	free(c->slots);
	free(c);
}
