#include "native/native_stack.h"

#include <stdlib.h>
#include <string.h>

#include "native/native_symbols.h"
#include "native/native_unwind.h"

static bool collect_thread(struct pf_unwinder *u, struct pf_unwound_frame *raw,
			   struct pf_thread_dump *t)
{
	size_t n = pf_unwind_thread(u, t->tid, raw, PF_MAX_NATIVE_DEPTH,
				    &t->native_truncated);
	if (n == 0)
		return true;
	t->native = calloc(n, sizeof *t->native);
	if (t->native == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		struct pf_native_frame *f = &t->native[t->nnative++];
		f->pc = raw[i].pc;
		f->return_address = raw[i].return_address;
	}
	return true;
}

/* The frames' addresses of every thread of snap, or of its current one. */
static enum pf_status unwind_threads(struct pf_snapshot *snap,
				     struct pf_unwinder *u, bool current_only,
				     struct pf_error *err)
{
	struct pf_unwound_frame *raw =
		malloc(PF_MAX_NATIVE_DEPTH * sizeof *raw);
	bool ok = raw != NULL;
	for (size_t i = 0; ok && i < pf_snapshot_count(snap); i++) {
		struct pf_thread_dump *t = pf_snapshot_thread(snap, i);
		if (t->tid != 0 && (!current_only || t->is_current))
			ok = collect_thread(u, raw, t);
	}
	free(raw);
	return ok ? PF_OK : pf_fail(err, PF_ERR_INTERNAL, "out of memory");
}

enum pf_status pf_collect_native_with(struct pf_snapshot *snap,
				      struct pf_unwinder *u,
				      struct pf_symbolizer *s,
				      bool current_only, struct pf_error *err)
{
	enum pf_status st = unwind_threads(snap, u, current_only, err);
	if (st == PF_OK && !pf_name_native_frames(s, snap))
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	return st;
}

/* The threads whose C stacks are wanted: every thread of snap, or its
 * current one alone; unwound only, named once the target runs. */
static enum pf_status collect(struct pf_snapshot *snap, pid_t pid,
			      bool current_only,
			      struct pf_symbolizer **symbolizer,
			      struct pf_error *err)
{
	struct pf_symbolizer *s = *symbolizer = pf_symbolizer_open(pid, err);
	if (s == NULL)
		return err->status;
	struct pf_unwinder *u = pf_unwinder_new(pid, s, err);
	enum pf_status st =
		u ? unwind_threads(snap, u, current_only, err) : err->status;
	pf_unwinder_free(u);
	if (st == PF_OK)
		return PF_OK;
	pf_symbolizer_close(s);
	*symbolizer = NULL;
	return st;
}

enum pf_status pf_collect_native(struct pf_snapshot *snap, pid_t pid,
				 struct pf_symbolizer **symbolizer,
				 struct pf_error *err)
{
	return collect(snap, pid, false, symbolizer, err);
}

enum pf_status pf_collect_native_current(struct pf_snapshot *snap, pid_t pid,
					 struct pf_symbolizer **symbolizer,
					 struct pf_error *err)
{
	return collect(snap, pid, true, symbolizer, err);
}

bool pf_name_native_frames(struct pf_symbolizer *symbolizer,
			   struct pf_snapshot *snap)
{
	for (size_t i = 0; i < pf_snapshot_count(snap); i++) {
		const struct pf_thread_dump *t = pf_snapshot_thread(snap, i);
		for (size_t j = 0; j < t->nnative; j++)
			if (!pf_symbolizer_want(symbolizer, t->native[j].pc,
						t->native[j].return_address))
				return false;
	}
	for (size_t i = 0; i < pf_snapshot_count(snap); i++) {
		struct pf_thread_dump *t = pf_snapshot_thread(snap, i);
		for (size_t j = 0; j < t->nnative; j++)
			if (!pf_symbolize(symbolizer, &t->native[j]))
				return false;
	}
	return true;
}

bool pf_add_source_lines(struct pf_symbolizer *symbolizer,
			 struct pf_snapshot *snap, const char *except_in)
{
	for (size_t i = 0; i < pf_snapshot_count(snap); i++) {
		struct pf_thread_dump *t = pf_snapshot_thread(snap, i);
		for (size_t j = 0; j < t->nnative; j++) {
			struct pf_native_frame *f = &t->native[j];
			if (f->object &&
			    !(except_in && strcmp(f->object, except_in) == 0) &&
			    !pf_symbolize_line(symbolizer, f))
				return false;
		}
	}
	return true;
}
