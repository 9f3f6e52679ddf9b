/* Names for the code addresses of a live process, by libdwfl: the ELF
 * object mapped there, the function (from .symtab, .dynsym or the separate
 * debug file elfutils finds) and, where DWARF exists, the source line. */
#ifndef PYFAULT_NATIVE_SYMBOLS_H
#define PYFAULT_NATIVE_SYMBOLS_H

#include <elfutils/libdwfl.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/errors.h"
#include "base/snapshot.h"
#include "process/proc_maps.h"

struct pf_symbolizer;

/* Reports the objects mapped in pid once; NULL with err filled when
 * /proc/PID/maps cannot be read. */
struct pf_symbolizer *pf_symbolizer_open(pid_t pid, struct pf_error *err);

/* Names the addresses with the objects dwfl has reported (a core's), each
 * object by the path of the mapping in maps that starts where it does
 * (libdwfl names a core's objects by their sonames); the symbolizer owns
 * dwfl from then on, maps must outlive it.  NULL when out of memory. */
struct pf_symbolizer *pf_symbolizer_of(Dwfl *dwfl,
				       const struct pf_maps *maps);

/* Tells s of an address pf_symbolize will be asked to name: the first
 * such call names every address told of in the same object, in one pass
 * over its symbol table.  Returns false when out of memory. */
bool pf_symbolizer_want(struct pf_symbolizer *s, uint64_t pc,
			bool return_address);

/* Fills out's object, symbol, symbol_offset and load_bias for out->pc and
 * out->return_address (set by the caller).  Addresses seen before are
 * answered from a cache.  Returns false when out of memory. */
bool pf_symbolize(struct pf_symbolizer *s, struct pf_native_frame *out);

/* Fills out's source_file and source_line, after pf_symbolize; reads
 * files only, so the process need not be stopped any more. */
bool pf_symbolize_line(struct pf_symbolizer *s, struct pf_native_frame *out);

/* The object mapped at addr, as reported: [*start, *end), its file's
 * start mapped at *start.  False where none is. */
bool pf_symbolizer_object(struct pf_symbolizer *s, uint64_t addr,
			  uint64_t *start, uint64_t *end);

void pf_symbolizer_close(struct pf_symbolizer *s);

#endif
