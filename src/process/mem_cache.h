/* A page-granular cache of a live target's memory for one dump.  While the
 * target is held its memory does not change, so each page is read once:
 * the frames that sit side by side in a thread's data stack, a thread
 * state and the objects next to it cost one read together.  Misses are
 * read with process_vm_readv, one iovec per page, where the kernel permits
 * it, else with pread on /proc/PID/mem. */
#ifndef PYFAULT_MEM_CACHE_H
#define PYFAULT_MEM_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pf_mem;

/* The cache's unit: a page of the target. */
#define PF_MEM_PAGE 4096u

/* Starts caching mem's reads (a live backend only; others read as before,
 * being no process).  Only while the target cannot change: end it before
 * the target runs again.  Out of memory, reads go uncached. */
void pf_mem_cache_begin(struct pf_mem *mem);

/* Drops every cached page; reads go to the target again. */
void pf_mem_cache_end(struct pf_mem *mem);

/* Reads the pages of addrs[0..n) not yet cached, in as few system calls
 * as process_vm_readv allows: where the independent walks of many threads
 * start.  Does nothing without a cache or process_vm_readv. */
void pf_mem_prefetch(struct pf_mem *mem, const uint64_t *addrs, size_t n);

/* pf_mem_read through the cache; addr and len are already checked. */
bool pf_mem_cache_read(struct pf_mem *mem, uint64_t addr, void *buf,
		       size_t len);

#endif
