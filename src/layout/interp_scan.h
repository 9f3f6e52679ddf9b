/* Finding the interpreter list of a 2.7 or 3.6 build whose interp_head
 * symbol was stripped: a validated scan of the interpreter's data. */
#ifndef PYFAULT_INTERP_SCAN_H
#define PYFAULT_INTERP_SCAN_H

#include <stdbool.h>
#include <stdint.h>

#include "process/proc_maps.h"
#include "layout/py_layout.h"
#include "process/remote_mem.h"

/* Looks through the writable mappings of object_path (and the anonymous
 * mapping right after them, where the rest of .bss lies) for a word that
 * points at an interpreter: a candidate is accepted only if each of its
 * thread states points back at it (tstate->interp).  Sets *addr to the
 * word's address.  Fails while Python has no thread state yet. */
bool pf_scan_interp_head(struct pf_mem *mem, const struct pf_maps *maps,
			 const char *object_path,
			 const struct pf_layout *layout, uint64_t *addr);

#endif
