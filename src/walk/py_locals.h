/* A frame's local variables for --locals, read from the target: the
 * fast locals (3.11+ localsplus with their kinds; f_localsplus before:
 * co_varnames, then co_cellvars, then co_freevars), each cell's content,
 * unbound ones left out, as frame.f_locals holds them. */
#ifndef PYFAULT_PY_LOCALS_H
#define PYFAULT_PY_LOCALS_H

#include "base/snapshot.h"
#include "layout/py_target.h"
#include "walk/py_dict.h"

/* Locals kept per frame; more set locals_truncated. */
#define PF_MAX_LOCALS 256

/* What one dump may spend on locals: past it, frames keep none (their
 * locals_truncated set). */
struct pf_locals_budget {
	size_t locals;     /* left to read */
	size_t bytes;      /* of reprs left */
};
#define PF_LOCALS_BUDGET_LOCALS 20000u
#define PF_LOCALS_BUDGET_BYTES (16u << 20)

/* Fills f->locals for the frame at frame (a frame object up to 3.10, a
 * _PyInterpreterFrame from 3.11) running code.  False only when memory
 * runs out. */
bool pf_read_locals(const struct pf_reader *r,
		    const struct pf_object_types *types, uint64_t frame,
		    uint64_t code, struct pf_locals_budget *budget,
		    struct pf_frame *f);

void pf_locals_free(struct pf_frame *f);

#endif
