#include "process/mem_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "process/remote_mem.h"

#define PAGE 4096u
/* 64 MiB: far more than a dump reads; past it, reads go uncached. */
#define MAX_PAGES 16384u
/* A read over more pages than this (a long line table) goes uncached. */
#define MAX_SPAN 64u

struct slot {
	uint64_t page;   /* its address; 0 for a free slot (page 0 is never
	                    read) */
	uint8_t *data;
};

struct pf_mem_cache {
	struct slot *slots;
	size_t capacity;  /* a power of two, at most half full */
	size_t count;
	bool no_vm_readv; /* refused once: /proc/PID/mem from then on */
};

void pf_mem_cache_begin(struct pf_mem *mem)
{
	pf_mem_cache_end(mem);
	if (mem->fd < 0 || mem->pid <= 0)
		return;
	struct pf_mem_cache *c = calloc(1, sizeof *c);
	if (c == NULL)
		return;
	c->capacity = 1024;
	c->slots = calloc(c->capacity, sizeof *c->slots);
	if (c->slots == NULL) {
		free(c);
		return;
	}
	mem->cache = c;
}

void pf_mem_cache_end(struct pf_mem *mem)
{
	struct pf_mem_cache *c = mem->cache;
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->capacity; i++)
		free(c->slots[i].data);
	free(c->slots);
	free(c);
	mem->cache = NULL;
}

static size_t slot_of(const struct pf_mem_cache *c, uint64_t page)
{
	size_t i = (size_t)((page / PAGE) * 0x9e3779b97f4a7c15ull) &
		   (c->capacity - 1);
	while (c->slots[i].page != 0 && c->slots[i].page != page)
		i = (i + 1) & (c->capacity - 1);
	return i;
}

static bool grow(struct pf_mem_cache *c)
{
	struct pf_mem_cache bigger = *c;
	bigger.capacity = c->capacity * 2;
	bigger.slots = calloc(bigger.capacity, sizeof *bigger.slots);
	if (bigger.slots == NULL)
		return false;
	for (size_t i = 0; i < c->capacity; i++)
		if (c->slots[i].page != 0)
			bigger.slots[slot_of(&bigger, c->slots[i].page)] =
				c->slots[i];
	free(c->slots);
	*c = bigger;
	return true;
}

/* Reads the n pages of iov (iov_base set to their buffers) that start at
 * page first, in one system call; returns how many were read whole. */
static size_t read_pages(struct pf_mem *mem, uint64_t first,
			 struct iovec *iov, size_t n)
{
	struct pf_mem_cache *c = mem->cache;
	struct iovec remote = {(void *)(uintptr_t)first, n * PAGE};
	ssize_t got;
	mem->reads++;
	if (!c->no_vm_readv) {
		got = process_vm_readv(mem->pid, iov, n, &remote, 1, 0);
		if (got >= 0)
			return (size_t)got / PAGE;
		/* Seccomp, an old kernel or a stricter LSM may refuse it
		 * where /proc/PID/mem is allowed. */
		if (errno != EPERM && errno != ENOSYS && errno != EACCES)
			return 0;
		c->no_vm_readv = true;
		mem->reads++;
	}
	do
		got = preadv(mem->fd, iov, (int)n, (off_t)first);
	while (got < 0 && errno == EINTR);
	return got > 0 ? (size_t)got / PAGE : 0;
}

/* Makes pages [first, first + n * PAGE) cached, reading the missing ones
 * in one go; false when one of them cannot be read. */
static bool fill(struct pf_mem *mem, uint64_t first, size_t n)
{
	struct pf_mem_cache *c = mem->cache;
	struct iovec iov[MAX_SPAN];
	size_t missing = 0;
	uint64_t from = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t page = first + i * PAGE;
		if (c->slots[slot_of(c, page)].page == page)
			continue;
		if (missing == 0)
			from = page;
		missing = (size_t)((page - from) / PAGE) + 1;
	}
	if (missing == 0)
		return true;
	/* The run from the first missing page to the last, cached ones
	 * included: one call, and they are read again at no real cost. */
	size_t done = 0;
	for (; done < missing; done++)
		if ((iov[done].iov_base = malloc(PAGE)) == NULL)
			break;
	for (size_t i = 0; i < done; i++)
		iov[i].iov_len = PAGE;
	size_t read = done == missing ? read_pages(mem, from, iov, missing) : 0;
	for (size_t i = 0; i < done; i++) {
		uint64_t page = from + i * PAGE;
		size_t s = slot_of(c, page);
		if (i >= read || c->slots[s].page == page ||
		    (2 * (c->count + 1) > c->capacity && !grow(c))) {
			free(iov[i].iov_base);
			continue;
		}
		s = slot_of(c, page);
		c->slots[s] = (struct slot){page, iov[i].iov_base};
		c->count++;
	}
	return read == missing;
}

bool pf_mem_cache_read(struct pf_mem *mem, uint64_t addr, void *buf,
		       size_t len)
{
	struct pf_mem_cache *c = mem->cache;
	uint64_t first = addr & ~(uint64_t)(PAGE - 1);
	size_t n = (size_t)((addr + len - 1 - first) / PAGE) + 1;
	if (n > MAX_SPAN || c->count + n > MAX_PAGES ||
	    !fill(mem, first, n)) {
		/* Uncached, or a page that cannot be read whole: the exact
		 * range decides, as without a cache. */
		return mem->read(mem, addr, buf, len);
	}
	size_t done = 0;
	while (done < len) {
		uint64_t at = addr + done, page = at & ~(uint64_t)(PAGE - 1);
		const struct slot *s = &c->slots[slot_of(c, page)];
		size_t off = (size_t)(at - page), part = PAGE - off;
		if (part > len - done)
			part = len - done;
		if (s->page != page) {
			/* Out of memory while filling: read it directly. */
			return mem->read(mem, addr, buf, len);
		}
		memcpy((char *)buf + done, s->data + off, part);
		done += part;
	}
	return true;
}
