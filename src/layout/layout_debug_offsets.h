/* Offsets from _Py_DebugOffsets, which CPython 3.13+ keeps at the start of
 * _PyRuntime for out-of-process tools. */
#ifndef PYFAULT_LAYOUT_DEBUG_OFFSETS_H
#define PYFAULT_LAYOUT_DEBUG_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "base/errors.h"
#include "layout/py_layout.h"
#include "process/remote_mem.h"

/* The cookie that opens _Py_DebugOffsets. */
#define PF_DEBUG_OFFSETS_COOKIE "xdebugpy"

/* Reads the cookie, the PY_VERSION_HEX and the free_threaded flag that
 * follow it: the cheapest way to recognise 3.13+.  Returns false when there
 * is no cookie. */
bool pf_debug_offsets_version(struct pf_mem *mem, uint64_t runtime,
			      uint64_t *hexversion, bool *free_threaded);

/* Bytes of _Py_DebugOffsets in a 3.minor build (3.13: the 3.13 struct; 3.14
 * and later: the 3.14 one). */
size_t pf_debug_offsets_size(unsigned minor);

/* The same, from a copy of the blob (len bytes): checks the cookie, that the
 * version is layout's, and every offset against the struct size declared
 * next to it; marks layout free-threaded when the blob says so.  Does not
 * set layout's source. */
enum pf_status pf_layout_from_debug_offsets_blob(struct pf_layout *layout,
						 const void *blob, size_t len,
						 struct pf_error *err);

/* Fills layout's offsets; layout's version fields must be set already.  Every
 * offset is checked against the struct size declared next to it. */
enum pf_status pf_layout_from_debug_offsets(struct pf_layout *layout,
					    struct pf_mem *mem,
					    uint64_t runtime,
					    struct pf_error *err);

#endif
