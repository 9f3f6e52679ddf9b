/* A cache of the target's pages in front of another reader, for walks that
 * read many small objects lying close together (thousands of asyncio
 * tasks, their coroutines and frames): one read per page rather than
 * several per object.  Valid only while the target stays stopped. */
#ifndef PYFAULT_PAGE_CACHE_H
#define PYFAULT_PAGE_CACHE_H

#include <stddef.h>

#include "process/remote_mem.h"

struct pf_page_cache;

/* Makes cached read through under, keeping at most max_bytes of pages
 * (past them it reads through).  Returns NULL when memory runs out. */
struct pf_page_cache *pf_page_cache_open(struct pf_mem *cached,
					 struct pf_mem *under,
					 size_t max_bytes);

void pf_page_cache_close(struct pf_page_cache *cache);

#endif
