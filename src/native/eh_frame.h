/* The unwind table of an object from its .eh_frame_hdr, read through
 * pyfault's memory backends: what libunwind's search of a binary-search
 * table (_Ux86_64_dwarf_search_unwind_table) takes.  The core unwinder
 * needs it because libunwind 1.6 reads a core's files as if each segment
 * were mapped from the start of its file; the live one because
 * libunwind-ptrace reads /proc/PID/maps and maps the object's file anew
 * for each object a C stack enters. */
#ifndef PYFAULT_EH_FRAME_H
#define PYFAULT_EH_FRAME_H

#include <libunwind.h>
#include <stdbool.h>
#include <stdint.h>

#include "process/remote_mem.h"

/* libunwind's own DWARF search over such a table, which its ptrace
 * accessors use too; exported, but declared in no public header. */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as,
					      unw_word_t ip,
					      unw_dyn_info_t *di,
					      unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

/* The tables looked up so far, by object: an unwinder asks for one at
 * every frame, and a C stack enters a few objects (libc, libpython, the
 * executable) again and again.  Zeroed to start. */
#define PF_EH_FRAME_OBJECTS 32
struct pf_eh_frame_object {
	uint64_t base;
	bool found;
	unw_dyn_info_t di;
};
struct pf_eh_frame_tables {
	size_t count;
	struct pf_eh_frame_object objects[PF_EH_FRAME_OBJECTS];
};

/* The table of the ELF object whose image spans [base, end) in mem (base:
 * where its file's start is mapped), in the encoding every GNU linker
 * writes; false when it has none that way.  Read once per object into
 * known. */
bool pf_eh_frame_table(struct pf_eh_frame_tables *known, struct pf_mem *mem,
		       uint64_t base, uint64_t end, unw_dyn_info_t *di);

#endif
