/* Where the dynamic loader of a freshly exec'd program lies.  Until the
 * program's own code runs, every system call comes from there; the first
 * from elsewhere means the loader has mapped every library the program
 * links, libpython included, and no line of Python has run yet. */
#ifndef PYFAULT_LOADER_RANGE_H
#define PYFAULT_LOADER_RANGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct pf_loader_range {
	uint64_t start, end;  /* both 0: no loader to wait for */
};

/* Finds the loader of pid (AT_BASE, the interpreter the kernel mapped
 * with the program).  false when it has none (a static program) or it
 * cannot be read. */
bool pf_loader_range_find(struct pf_loader_range *range, pid_t pid);

static inline bool pf_loader_range_holds(const struct pf_loader_range *range,
					 uint64_t addr)
{
	return addr >= range->start && addr < range->end;
}

#endif
