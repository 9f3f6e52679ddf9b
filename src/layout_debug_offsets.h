/* Offsets from _Py_DebugOffsets, which CPython 3.13+ keeps at the start of
 * _PyRuntime for out-of-process tools. */
#ifndef PYFAULT_LAYOUT_DEBUG_OFFSETS_H
#define PYFAULT_LAYOUT_DEBUG_OFFSETS_H

#include <stdint.h>

#include "errors.h"
#include "py_layout.h"
#include "remote_mem.h"

/* The cookie that opens _Py_DebugOffsets. */
#define PF_DEBUG_OFFSETS_COOKIE "xdebugpy"

/* Reads the cookie and the PY_VERSION_HEX that follows it: the cheapest way
 * to recognise 3.13+.  Returns false when there is no cookie. */
bool pf_debug_offsets_version(struct pf_mem *mem, uint64_t runtime,
			      uint64_t *hexversion);

/* Fills layout's offsets; layout's version fields must be set already.  Every
 * offset is checked against the struct size declared next to it. */
enum pf_status pf_layout_from_debug_offsets(struct pf_layout *layout,
					    struct pf_mem *mem,
					    uint64_t runtime,
					    struct pf_error *err);

#endif
