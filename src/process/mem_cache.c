#include "process/mem_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/populate.h"
#include "process/remote_mem.h"

#define PAGE PF_MEM_PAGE
/* 64 MiB: far more than a dump reads; past it, reads go uncached. */
#define MAX_PAGES 16384u
/* A read over more pages than this (a long line table) goes uncached;
 * no more pages than this are read in one system call. */
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
	/* The copies of the pages, in one mapping reserved whole and
	 * populated as it fills: populating exactly the pages each read
	 * needs, in one call, costs far less than a fault for each page,
	 * and than populating ahead pages that are never read. */
	uint8_t *pages;
	size_t used;
	const struct slot *last;  /* the page read last, for the next read,
	                             which is most often in it too */
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
	void *pages = mmap(NULL, MAX_PAGES * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->slots == NULL || pages == MAP_FAILED) {
		if (pages != MAP_FAILED)
			munmap(pages, MAX_PAGES * PAGE);
		free(c->slots);
		free(c);
		return;
	}
	c->pages = pages;
	mem->cache = c;
}

void pf_mem_cache_end(struct pf_mem *mem)
{
	struct pf_mem_cache *c = mem->cache;
	if (c == NULL)
		return;
	munmap(c->pages, MAX_PAGES * PAGE);
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
	c->last = NULL;
	return true;
}

static bool cached(const struct pf_mem_cache *c, uint64_t page)
{
	return c->slots[slot_of(c, page)].page == page;
}

static void keep(struct pf_mem_cache *c, uint64_t page, uint8_t *data)
{
	if (cached(c, page) || c->count >= MAX_PAGES ||
	    (2 * (c->count + 1) > c->capacity && !grow(c)))
		return;
	c->slots[slot_of(c, page)] = (struct slot){page, data};
	c->count++;
}

/* Room for n pages, populated; NULL when the reservation is full.  The
 * pages count as used once read (c->used). */
static uint8_t *room_for(struct pf_mem_cache *c, size_t n)
{
	if (c->used + n > MAX_PAGES)
		return NULL;
	uint8_t *room = c->pages + c->used * PAGE;
	pf_populate(room, n * PAGE);
	return room;
}

/* Reads pages[0..n) (distinct, none cached) in one system call and caches
 * those read; returns how many were read, in order: a page that cannot
 * be read ends the call there. */
static size_t read_pages(struct pf_mem *mem, const uint64_t *pages, size_t n)
{
	struct pf_mem_cache *c = mem->cache;
	struct iovec local, remote[MAX_SPAN];
	size_t ready = n < MAX_SPAN ? n : MAX_SPAN, got = 0;
	uint8_t *room = room_for(c, ready);
	if (room == NULL)
		return 0;
	local = (struct iovec){room, ready * PAGE};
	for (size_t i = 0; i < ready; i++)
		remote[i] = (struct iovec){(void *)(uintptr_t)pages[i], PAGE};
	if (ready > 0 && !c->no_vm_readv) {
		mem->reads++;
		ssize_t r = process_vm_readv(mem->pid, &local, 1, remote,
					     ready, 0);
		if (r >= 0)
			got = (size_t)r / PAGE;
		/* Seccomp, an old kernel or a stricter LSM may refuse it
		 * where /proc/PID/mem is allowed. */
		else if (errno == EPERM || errno == ENOSYS || errno == EACCES)
			c->no_vm_readv = true;
	}
	if (ready > 0 && c->no_vm_readv) {
		/* One page: pread reads one range. */
		ssize_t r;
		mem->reads++;
		do
			r = pread(mem->fd, room, PAGE, (off_t)pages[0]);
		while (r < 0 && errno == EINTR);
		got = r == (ssize_t)PAGE;
	}
	for (size_t i = 0; i < got; i++)
		keep(c, pages[i], room + i * PAGE);
	c->used += got;
	return got;
}

/* Makes pages [first, first + n * PAGE) cached, reading the missing ones
 * in one go, and the page below them when it is missing too: the walk
 * goes down a thread's frames and down the list of thread states, both
 * laid out upwards.  False when one of the n cannot be read. */
static bool fill(struct pf_mem *mem, uint64_t first, size_t n)
{
	struct pf_mem_cache *c = mem->cache;
	uint64_t pages[MAX_SPAN + 1];
	size_t missing = 0;
	for (size_t i = 0; i < n; i++)
		if (!cached(c, first + i * PAGE))
			pages[missing++] = first + i * PAGE;
	if (missing == 0)
		return true;
	size_t wanted = missing;
	/* Last, so that when it cannot be read the others still are. */
	if (!c->no_vm_readv && first > PAGE && !cached(c, first - PAGE))
		pages[wanted++] = first - PAGE;
	size_t done = 0;
	while (done < missing) {
		size_t got = read_pages(mem, pages + done, wanted - done);
		if (got == 0)
			return false;
		done += got;
	}
	return true;
}

void pf_mem_prefetch(struct pf_mem *mem, const uint64_t *addrs, size_t n)
{
	struct pf_mem_cache *c = mem->cache;
	uint64_t pages[MAX_SPAN];
	size_t i = 0;
	if (c == NULL || c->no_vm_readv)
		return;
	while (i < n) {
		size_t k = 0;
		for (; i < n && k < MAX_SPAN; i++) {
			uint64_t page = addrs[i] & ~(uint64_t)(PAGE - 1);
			bool listed = cached(c, page) || page < PAGE;
			for (size_t j = 0; j < k && !listed; j++)
				listed = pages[j] == page;
			if (!listed)
				pages[k++] = page;
		}
		/* A page that cannot be read is skipped: the walk will find
		 * out, one read at a time as without prefetching. */
		for (size_t done = 0; done < k;)
			done += read_pages(mem, pages + done, k - done) + 1;
	}
}

bool pf_mem_cache_read(struct pf_mem *mem, uint64_t addr, void *buf,
		       size_t len)
{
	struct pf_mem_cache *c = mem->cache;
	uint64_t first = addr & ~(uint64_t)(PAGE - 1);
	size_t n = (size_t)((addr + len - 1 - first) / PAGE) + 1;
	if (n == 1 && c->last && c->last->page == first) {
		memcpy(buf, c->last->data + (addr - first), len);
		return true;
	}
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
		c->last = s;
	}
	return true;
}
