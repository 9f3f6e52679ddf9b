#include "native/native_merge.h"

#include <stdlib.h>
#include <string.h>

static bool named(const char *symbol, const char *name)
{
	size_t n = strlen(name);
	return strncmp(symbol, name, n) == 0 &&
	       (symbol[n] == '\0' || symbol[n] == '.');
}

bool pf_is_eval_loop(const char *symbol)
{
	return symbol != NULL &&
	       (named(symbol, "_PyEval_EvalFrameDefault") ||
		strncmp(symbol, "_TAIL_CALL_", 11) == 0);
}

/* A run of evaluation-loop frames is one call: 3.14's
 * _PyEval_EvalFrameDefault calls its first instruction function, which
 * tail-calls the next; no version calls the loop straight from itself. */
static bool starts_eval_call(const struct pf_thread_dump *t, size_t i)
{
	return pf_is_eval_loop(t->native[i].symbol) &&
	       (i == 0 || !pf_is_eval_loop(t->native[i - 1].symbol));
}

static enum pf_merge_result check(const struct pf_thread_dump *t,
				  struct pf_merged *m)
{
	for (size_t i = 0; i < t->nnative; i++)
		m->eval_calls += starts_eval_call(t, i);
	for (size_t i = 0; i < t->nframes; i++)
		m->python_calls += t->frames[i].entry;
	if (t->nnative == 0)
		return PF_MERGE_NO_C_STACK;
	if (t->native_truncated || t->frames_truncated)
		return PF_MERGE_TRUNCATED;
	if (!t->entries_known)
		return PF_MERGE_UNKNOWN_ENTRIES;
	/* The oldest Python frame must start a call, or frames would be
	 * left over. */
	if (m->eval_calls != m->python_calls ||
	    (t->nframes > 0 && !t->frames[t->nframes - 1].entry))
		return PF_MERGE_COUNTS_DIFFER;
	return PF_MERGED;
}

bool pf_merge_stacks(const struct pf_thread_dump *t,
		     const char *interpreter_object, struct pf_merged *out)
{
	memset(out, 0, sizeof *out);
	out->result = check(t, out);
	if (out->result != PF_MERGED)
		return true;
	out->items = calloc(t->nnative + t->nframes + 1, sizeof *out->items);
	if (out->items == NULL)
		return false;
	size_t py = 0;
	for (size_t i = 0; i < t->nnative; i++) {
		const struct pf_native_frame *f = &t->native[i];
		if (starts_eval_call(t, i)) {
			/* The frames this call ran, newest first, down to
			 * the one it was called for. */
			while (py < t->nframes) {
				out->items[out->count++] = (struct pf_merged_item){
					.python = true, .index = py};
				if (t->frames[py++].entry)
					break;
			}
		} else if (!pf_is_eval_loop(f->symbol) &&
			   !(f->object &&
			     strcmp(f->object, interpreter_object) == 0)) {
			out->items[out->count++] =
				(struct pf_merged_item){.index = i};
		}
	}
	return true;
}

void pf_merged_free(struct pf_merged *m)
{
	free(m->items);
	memset(m, 0, sizeof *m);
}
