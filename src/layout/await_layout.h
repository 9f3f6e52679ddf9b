/* Where the awaitables that are neither coroutines nor generators keep
 * what they await, for the task walk to go on through them: an async
 * generator's asend and athrow objects their generator, a coroutine's
 * __await__() wrapper its coroutine (structs private to
 * Objects/genobject.c) and _asyncio's FutureIter its future (private to
 * Modules/_asynciomodule.c).  No _Py_DebugOffsets or _AsyncioDebug
 * field gives them: they come from the DWARF of the objects that define
 * them, or stay unknown and the chain ends at the awaitable. */
#ifndef PYFAULT_AWAIT_LAYOUT_H
#define PYFAULT_AWAIT_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "layout/py_target.h"

struct pf_await_layout {
	int64_t asend_gen;          /* PyAsyncGenASend.ags_gen */
	int64_t athrow_gen;         /* PyAsyncGenAThrow.agt_gen */
	int64_t wrapper_coro;       /* PyCoroWrapper.cw_coroutine */
	int64_t futureiter_future;  /* futureiterobject.future */
};

/* Every offset unknown: no chain goes through those objects. */
#define PF_AWAIT_LAYOUT_NONE                                                  \
	((struct pf_await_layout){PF_NO_OFFSET, PF_NO_OFFSET, PF_NO_OFFSET,   \
				  PF_NO_OFFSET})

/* Fills out from the DWARF of t's interpreter and of asyncio_path (the
 * object that holds _asyncio: its extension module, or the interpreter;
 * NULL when no _asyncio is loaded, as for 3.11-3.13's pure-Python
 * tasks; asyncio_build_id its build-id), looked for as t's own, when t's
 * sources allow DWARF, through the offset cache as t's layout.  Each must
 * be a pointer inside its struct.  What cannot be found stays
 * PF_NO_OFFSET; for -v, detail says where the others came from and note
 * why those are unknown. */
void pf_await_layout_find(struct pf_target *t, const char *asyncio_path,
			  const char *asyncio_build_id,
			  struct pf_await_layout *out, char *detail,
			  size_t detail_size, char *note, size_t note_size);

#endif
