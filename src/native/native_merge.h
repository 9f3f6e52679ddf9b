/* One stack per thread from its C and Python frames: each C frame of the
 * evaluation loop gives way to the Python frames it was running, the other
 * C frames of the interpreter's own object are left out, and every other C
 * frame (extensions, libc) stays.  Done only when the two stacks provably
 * fit together; never a guessed interleaving. */
#ifndef PYFAULT_NATIVE_MERGE_H
#define PYFAULT_NATIVE_MERGE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/snapshot.h"

enum pf_merge_result {
	PF_MERGED,
	PF_MERGE_NO_C_STACK,     /* the C stack could not be read */
	PF_MERGE_TRUNCATED,      /* a stack was cut at its depth limit */
	PF_MERGE_UNKNOWN_ENTRIES, /* the layout cannot tell where the
	                             evaluation calls start */
	PF_MERGE_COUNTS_DIFFER,  /* eval_calls != python_calls */
};

struct pf_merged_item {
	bool python;             /* frames[index], else native[index] */
	size_t index;
};

struct pf_merged {
	enum pf_merge_result result;
	size_t eval_calls;       /* evaluation-loop calls on the C stack */
	size_t python_calls;     /* Python frames that start one */
	size_t count;            /* items, innermost first, when PF_MERGED */
	struct pf_merged_item *items;
};

/* Whether a C function runs the evaluation loop: _PyEval_EvalFrameDefault
 * (and its compiler-split parts such as .cold), and 3.14's tail-calling
 * instruction functions. */
bool pf_is_eval_loop(const char *symbol);

/* Merges t's stacks; interpreter_object is the path of the ELF object
 * holding the interpreter, whose other C frames are left out.  Returns
 * false when out of memory. */
bool pf_merge_stacks(const struct pf_thread_dump *t,
		     const char *interpreter_object, struct pf_merged *out);

void pf_merged_free(struct pf_merged *m);

#endif
