#include "walk/walker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "base/populate.h"
#include "walk/linetable.h"
#include "walk/py_locals.h"
#include "walk/py_string.h"
#include "process/mem_cache.h"
#include "process/thread_status.h"

/* Bounds a corrupt interpreter list; real processes have a handful. */
#define MAX_INTERPRETERS 4096
/* Bounds the search for the current thread past the PF_MAX_NTHREADS
 * dumped: more thread states than any process has threads means the list
 * loops. */
#define MAX_TSTATES (1u << 20)
/* Line tables longer than this are taken as corrupt. */
#define MAX_LINETABLE (1u << 20)
/* All the line tables of one dump together: 10,000 frames whose code
 * objects each claim a 1 MiB table would otherwise take 10 GiB.  Real
 * tables take a few KiB; past this, lines are unknown. */
#define MAX_LINETABLES_TOTAL (64u << 20)

struct code_entry {
	uint64_t addr;
	struct pf_text filename, name;
	int firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
	bool readable;
	/* The last instruction's line: recursion and threads parked alike
	 * stop many frames of a function at one instruction. */
	bool has_last;
	int last_addr, last_line;
	struct code_entry *next;
};

#define CODE_BUCKETS 256

/* Threads usually share most of their code objects, so each is read once. */
struct pf_code_cache {
	struct code_entry *buckets[CODE_BUCKETS];
	size_t linetable_bytes;
};

struct walk {
	const struct pf_walk_input *in;
	const struct pf_layout *l;
	struct pf_mem *mem;
	struct pf_snapshot *snap;
	uint8_t *frame_buf;
	uint64_t frame_addr;        /* where frame_buf was read */
	uint8_t *code_buf;
	struct pf_locals_budget budget;
};

static bool read_linetable(struct walk *w, uint64_t bytes_obj,
			   struct code_entry *c)
{
	const struct pf_layout *l = w->l;
	struct pf_code_cache *cache = w->snap->codes;
	int64_t size;
	if (!pf_mem_read(w->mem, bytes_obj + l->bytes.ob_size, &size,
			 sizeof size) ||
	    size < 0 || size > MAX_LINETABLE ||
	    (size_t)size > MAX_LINETABLES_TOTAL - cache->linetable_bytes)
		return true;
	c->linetable = malloc(size ? (size_t)size : 1);
	if (c->linetable == NULL)
		return false;
	if (pf_mem_read(w->mem, bytes_obj + l->bytes.ob_sval, c->linetable,
			(size_t)size)) {
		c->linetable_len = (size_t)size;
		cache->linetable_bytes += (size_t)size;
	}
	return true;
}

static bool load_code(struct walk *w, struct code_entry *c)
{
	const struct pf_layout *l = w->l;
	if (!pf_mem_read(w->mem, c->addr, w->code_buf, (size_t)l->code.size))
		return true;
	c->readable = true;
	c->firstlineno = pf_field_i32(w->code_buf, l->code.firstlineno);
	return pf_read_text(w->mem, l,
			    pf_field_u64(w->code_buf, l->code.filename),
			    &c->filename) &&
	       pf_read_text(w->mem, l, pf_field_u64(w->code_buf, l->code.name),
			    &c->name) &&
	       read_linetable(w, pf_field_u64(w->code_buf, l->code.linetable),
			      c);
}

static struct code_entry *code_lookup(struct walk *w, uint64_t addr)
{
	struct pf_code_cache *cache = w->snap->codes;
	size_t b = (addr >> 4) % CODE_BUCKETS;
	for (struct code_entry *c = cache->buckets[b]; c; c = c->next)
		if (c->addr == addr)
			return c;
	struct code_entry *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->addr = addr;
	c->next = cache->buckets[b];
	cache->buckets[b] = c;
	return load_code(w, c) ? c : NULL;
}

static void code_cache_free(struct pf_code_cache *cache)
{
	if (cache == NULL)
		return;
	for (size_t b = 0; b < CODE_BUCKETS; b++) {
		struct code_entry *c = cache->buckets[b];
		while (c) {
			struct code_entry *next = c->next;
			pf_text_free(&c->filename);
			pf_text_free(&c->name);
			free(c->linetable);
			free(c);
			c = next;
		}
	}
	free(cache);
}

void pf_module_list_free(struct pf_module_list *list)
{
	for (size_t i = 0; i < list->count; i++)
		pf_text_free(&list->names[i]);
	free(list->names);
	memset(list, 0, sizeof *list);
}

static void thread_dump_free(struct pf_thread_dump *thread)
{
	pf_text_free(&thread->python_name);
	for (size_t i = 0; i < thread->nframes; i++)
		pf_locals_free(&thread->frames[i]);
	for (size_t i = 0; i < thread->nnative; i++) {
		free(thread->native[i].object);
		free(thread->native[i].symbol);
		free(thread->native[i].source_file);
	}
	free(thread->native);
}

void pf_snapshot_free(struct pf_snapshot *snap)
{
	for (size_t i = 0; snap->threads && i < pf_snapshot_count(snap); i++)
		thread_dump_free(pf_snapshot_thread(snap, i));
	code_cache_free(snap->codes);
	pf_module_list_free(&snap->modules);
	pf_task_list_free(&snap->tasks);
	free(snap->threads);
	for (size_t i = 0; i < snap->ninterps; i++)
		free(snap->interps[i].threads);
	free(snap->interps);
	memset(snap, 0, sizeof *snap);
}

size_t pf_snapshot_count(const struct pf_snapshot *snap)
{
	size_t n = snap->nthreads + (snap->has_outside ? 1 : 0);
	for (size_t i = 0; i < snap->ninterps; i++)
		n += snap->interps[i].nthreads;
	return n;
}

struct pf_thread_dump *pf_snapshot_thread(struct pf_snapshot *snap, size_t i)
{
	if (i < snap->nthreads)
		return &snap->threads[i];
	i -= snap->nthreads;
	if (snap->has_outside && i-- == 0)
		return &snap->outside;
	for (size_t k = 0; k < snap->ninterps; k++) {
		if (i < snap->interps[k].nthreads)
			return &snap->interps[k].threads[i];
		i -= snap->interps[k].nthreads;
	}
	return NULL;
}

const struct pf_thread_dump *pf_snapshot_current(
	const struct pf_snapshot *snap)
{
	for (size_t i = 0; i < snap->nthreads; i++)
		if (snap->threads[i].is_current)
			return &snap->threads[i];
	return snap->has_outside ? &snap->outside : NULL;
}

const struct pf_thread_dump *pf_snapshot_current_python(
	const struct pf_snapshot *snap)
{
	const struct pf_thread_dump *t = pf_snapshot_current(snap);
	return t && !t->no_tstate ? t : NULL;
}

/* Where the frame's bytecode starts, as _PyFrame_GetBytecode computes it:
 * co_code_adaptive, or in 3.14t the thread's own copy,
 * co_tlbc->entries[f->tlbc_index].  0 when that cannot be read. */
static uint64_t bytecode_start(const struct walk *w, uint64_t code_addr)
{
	const struct pf_layout *l = w->l;
	if (l->ft.tlbc_index == PF_NO_OFFSET)
		return code_addr + (uint64_t)l->code.code_adaptive;
	int32_t index = pf_field_i32(w->frame_buf, l->ft.tlbc_index);
	uint64_t array, first;
	int64_t size;
	/* _PyCodeArray: Py_ssize_t size; char *entries[]. */
	if (!pf_mem_read_u64(w->mem, code_addr + (uint64_t)l->ft.co_tlbc,
			     &array) ||
	    !pf_mem_read(w->mem, array, &size, sizeof size) || index < 0 ||
	    index >= size ||
	    !pf_mem_read_u64(w->mem, array + 8 + 8 * (uint64_t)index, &first))
		return 0;
	return first;
}

/* The byte offset of the frame's instruction, as the version's
 * PyFrame_GetLineNumber or _PyInterpreterFrame_GetLine computes it; sets
 * *lineno instead when 3.10's f_lineno decides.  Sets *known to false when
 * the bytecode cannot be found. */
static int frame_address(const struct walk *w, uint64_t code_addr,
			 int *lineno, bool *known)
{
	const struct pf_layout *l = w->l;
	*known = true;
	if (l->frame_model == PF_FRAMES_OBJECTS) {
		if (l->frame.use_f_lineno)
			*lineno = pf_field_i32(w->frame_buf, l->frame.lineno);
		/* CPython scales f_lasti in unsigned size_t arithmetic too:
		 * a corrupt one wraps rather than overflowing. */
		return (int)((unsigned)pf_field_i32(w->frame_buf,
						    l->frame.lasti) *
			     l->frame.lasti_scale);
	}
	uint64_t instr = pf_field_u64(w->frame_buf, l->frame.instr);
	uint64_t first = bytecode_start(w, code_addr);
	*known = first != 0;
	/* Code units are two bytes; a frame that has not started points one
	 * unit before the first, giving -2.  The unit count is cut to int and
	 * doubled, as _PyInterpreterFrame_LASTI(f) * sizeof(_Py_CODEUNIT). */
	int units = (int)((int64_t)(instr - first) / 2);
	return (int)((unsigned)units * 2u);
}

static bool record_frame(struct walk *w, uint64_t code_addr,
			 struct pf_frame *out)
{
	static const struct pf_text unknown = {.present = false};
	const struct pf_layout *l = w->l;
	struct code_entry *c = code_lookup(w, code_addr);
	if (c == NULL)
		return false;
	out->filename = c->readable ? &c->filename : &unknown;
	out->name = c->readable ? &c->name : &unknown;
	out->lineno = -1;
	out->code_unreadable = !c->readable;
	if (!c->readable)
		return true;
	int lineno = 0;
	bool known;
	int addr = frame_address(w, code_addr, &lineno, &known);
	if (!known)
		return true;
	if (lineno == 0 && !(c->has_last && c->last_addr == addr)) {
		c->last_line = pf_line_number(l->line_table, c->linetable,
					      c->linetable_len, c->firstlineno,
					      addr);
		c->last_addr = addr;
		c->has_last = true;
	}
	out->lineno = lineno != 0 ? lineno : c->last_line;
	return true;
}

static bool read_frame(struct walk *w, uint64_t addr)
{
	w->frame_addr = addr;
	return pf_mem_read(w->mem, addr, w->frame_buf,
			   (size_t)w->l->frame.size);
}

static bool owned_by_cstack(const struct walk *w)
{
	return w->l->owner_cstack >= 0 &&
	       pf_field_u8(w->frame_buf, w->l->frame.owner) ==
		       w->l->owner_cstack;
}

/* The thread's newest frame, 0 when it has none. */
static uint64_t newest_frame(struct walk *w, const uint8_t *tstate)
{
	const struct pf_layout *l = w->l;
	/* 3.10 has a cframe too, but without current_frame. */
	if (l->cframe.current_frame == PF_NO_OFFSET)
		return pf_field_u64(tstate, l->tstate.frame);
	uint64_t cframe = pf_field_u64(tstate, l->tstate.cframe), frame;
	if (!pf_mem_read_u64(w->mem, cframe + l->cframe.current_frame,
			     &frame))
		return 0;
	return frame;
}

/* Whether the frame in frame_buf starts an evaluation-loop call, as far
 * as the frame itself tells: every frame object does (3.8-3.10), and 3.11
 * flags it.  From 3.12 on the call pushes a C-stack-owned shim frame
 * before it, which walk_frames sees next; a shim that is the newest frame
 * stands for a call that has no frame of its own. */
static bool starts_evaluation(const struct walk *w, bool *known)
{
	const struct pf_layout *l = w->l;
	if (l->frame_model == PF_FRAMES_OBJECTS)
		return true;
	if (l->frame.is_entry != PF_NO_OFFSET)
		return pf_field_u8(w->frame_buf, l->frame.is_entry) != 0;
	if (l->owner_cstack < 0)
		*known = false;
	return owned_by_cstack(w);
}

/* The code object of the frame in frame_buf: f_executable, a _PyStackRef
 * from 3.14 on, whose tag bits CPython masks off too. */
static uint64_t frame_code(const struct walk *w)
{
	return pf_field_u64(w->frame_buf, w->l->frame.code) &
	       ~w->l->code_tag_mask;
}

/* Steps frame_buf to the previous frame; false at the oldest one or on a
 * frame that cannot be read. */
static bool step_back(struct walk *w)
{
	uint64_t frame = pf_field_u64(w->frame_buf, w->l->frame.back);
	return frame != 0 && read_frame(w, frame);
}

/* Whether dump_frame() of 3.14.1+ fails on f, the newest frame of t:
 * then dump_traceback() prints "<invalid frame>" (in place of f when its
 * code object is unreadable) and stops. */
static bool frame_invalid(const struct pf_frame *f, struct pf_thread_dump *t)
{
	if (f->filename->present && f->name->present && f->lineno >= 0)
		return false;
	t->invalid_frame = true;
	if (f->code_unreadable)
		t->nframes--;
	return true;
}

/* Mirrors dump_traceback() of the target's version: frames most recent
 * first, shim frames skipped (by the loop, or from 3.14.1 by dump_frame(),
 * where they still count), at most PF_MAX_FRAME_DEPTH frames. */
static bool walk_frames(struct walk *w, uint64_t frame,
			struct pf_thread_dump *t)
{
	const struct pf_layout *l = w->l;
	bool counted = l->shim_frames_counted;
	t->entries_known = true;
	if (frame == 0 || !read_frame(w, frame))
		return true;
	if (l->skip_cstack_on_top && owned_by_cstack(w)) {
		/* An evaluation call without a frame of its own. */
		t->entries_known = false;
		if (!counted && !step_back(w))
			return true;
	}
	struct pf_frame *f = NULL;
	for (unsigned depth = 0;; depth++) {
		if (depth >= PF_MAX_FRAME_DEPTH) {
			t->frames_truncated = true;
			return true;
		}
		if (counted && owned_by_cstack(w)) {
			/* A shim: the newer frame began an evaluation call. */
			if (f)
				f->entry = true;
		} else {
			f = &t->frames[t->nframes++];
			if (!record_frame(w, frame_code(w), f))
				return false;
			if (w->in->locals_types &&
			    !pf_read_locals(&(struct pf_reader){w->mem, w->l},
					    w->in->locals_types, w->frame_addr,
					    frame_code(w), &w->budget, f))
				return false;
			f->entry = starts_evaluation(w, &t->entries_known);
			/* The same change (gh-140815) as the counted
			 * shims. */
			if (counted && frame_invalid(f, t))
				return true;
		}
		if (!step_back(w))
			return true;
		if (!counted && owned_by_cstack(w)) {
			f->entry = true;
			if (!step_back(w))
				return true;
		}
	}
}

/* The interpreters, newest first as the list holds them: at most max
 * into interps (*more set when the list goes on), and in *main its last
 * element, the main interpreter, whose threads faulthandler dumps; 0
 * when there is none (yet, or any more). */
static bool list_interpreters(struct walk *w, uint64_t *interps, size_t max,
			      size_t *count, uint64_t *main, bool *more)
{
	const struct pf_layout *l = w->l;
	uint64_t interp;
	*count = 0;
	*main = 0;
	*more = false;
	if (!pf_mem_read_u64(w->mem, w->in->interp_head, &interp))
		return false;
	for (int i = 0; interp != 0; i++) {
		if (i == MAX_INTERPRETERS)
			return false;
		if (*count < max)
			interps[(*count)++] = interp;
		else
			*more = true;
		*main = interp;
		if (!pf_mem_read_u64(w->mem, interp + l->interp.next, &interp))
			return false;
	}
	return true;
}

/* PyInterpreterState.id, -1 where the version has none or it cannot be
 * read. */
static int64_t interpreter_id(struct walk *w, uint64_t interp)
{
	int64_t id;
	if (w->l->interp.id == PF_NO_OFFSET ||
	    !pf_mem_read(w->mem, interp + (uint64_t)w->l->interp.id, &id,
			 sizeof id) ||
	    id < 0)
		return -1;
	return id;
}

/* The GIL's state, through the interpreter's ceval.gil (3.12+) or the
 * runtime's; 0 when it cannot be read. */
static uint64_t gil_address(struct walk *w, uint64_t interp)
{
	const struct pf_layout *l = w->l;
	uint64_t gil;
	if (l->runtime.gil != PF_NO_OFFSET)
		return w->in->runtime + (uint64_t)l->runtime.gil;
	if (l->interp.gil_ptr == PF_NO_OFFSET ||
	    !pf_mem_read_u64(w->mem, interp + l->interp.gil_ptr, &gil))
		return 0;
	return gil;
}

/* A free-threaded build runs without the GIL unless PYTHON_GIL=1 or an
 * extension asked for it (_PyEval_IsGILEnabled). */
static bool gil_disabled(struct walk *w, uint64_t interp)
{
	const struct pf_layout *l = w->l;
	uint64_t gil = gil_address(w, interp);
	int32_t enabled;
	return l->ft.gil_enabled != PF_NO_OFFSET && gil != 0 &&
	       pf_mem_read_i32(w->mem, gil + l->ft.gil_enabled, &enabled) &&
	       !enabled;
}

/* The thread state holding the GIL, 0 when none does. */
static uint64_t gil_holder(struct walk *w, uint64_t interp)
{
	const struct pf_layout *l = w->l;
	uint64_t holder;
	int32_t locked;
	/* Without a GIL struct (2.7, 3.6), the thread that takes the GIL sets
	 * _PyThreadState_Current and clears it when it lets go. */
	if (w->in->tstate_current != 0)
		return pf_mem_read_u64(w->mem, w->in->tstate_current, &holder)
			       ? holder
			       : 0;
	uint64_t gil = gil_address(w, interp);
	if (gil == 0 || w->snap->gil_disabled ||
	    !pf_mem_read_i32(w->mem, gil + l->gil.locked, &locked) ||
	    !locked ||
	    !pf_mem_read_u64(w->mem, gil + l->gil.last_holder, &holder))
		return 0;
	return holder;
}

/* Where the interpreter's GIL state is and which thread state holds it. */
struct gil_view {
	uint64_t addr;      /* 0 when unreadable */
	uint64_t holder;    /* 0 when none holds it */
};

/* /proc's view of the thread, and the interpreter's: a thread asleep in
 * futex() on a word inside the GIL state (its mutex or condition
 * variables) waits for the GIL.  A timed futex wait that a signal or a
 * ptrace stop interrupted goes on as restart_syscall(), whose registers
 * still hold futex()'s arguments; the other calls restarted that way
 * (nanosleep, poll) take no pointer into the GIL state. */
static void collect_status(struct walk *w, struct pf_thread_dump *t,
			   uint64_t tstate_addr, const struct gil_view *gil)
{
	struct pf_thread_status *s = &t->status;
	int64_t gil_size = w->l->gil.size;
	if (w->in->thread_status)
		w->in->thread_status(w->in->status_ctx, t->tid, s);
	else
		pf_read_thread_status(w->in->pid, t->tid, s);
	s->holds_gil = gil->holder != 0 && gil->holder == tstate_addr;
	if (s->state == PF_STATE_SYSCALL &&
	    (s->syscall_nr == SYS_futex ||
	     s->syscall_nr == SYS_restart_syscall) &&
	    gil->addr != 0 && gil_size != PF_NO_OFFSET &&
	    s->syscall_args[0] - gil->addr < (uint64_t)gil_size)
		s->state = PF_STATE_GIL_WAIT;
}

static bool gc_collecting(struct walk *w, uint64_t interp)
{
	int32_t collecting;
	return w->l->interp.gc_collecting != PF_NO_OFFSET &&
	       pf_mem_read_i32(w->mem, interp + w->l->interp.gc_collecting,
			       &collecting) &&
	       collecting;
}

/* Bytes that cover every pointer-sized field at the given offsets. */
static size_t pointer_fields_span(const int64_t *offsets, size_t n)
{
	size_t span = 0;
	for (size_t i = 0; i < n; i++)
		if (offsets[i] != PF_NO_OFFSET && (size_t)offsets[i] + 8 > span)
			span = (size_t)offsets[i] + 8;
	return span;
}

/* The walks of the threads are independent, and each starts with a read
 * of its own (3.11-3.12's cframe on the thread's C stack, then its newest
 * frame): those pages are read for every thread at once.  From 3.11 on, a
 * thread's older frames lie below its newest in the same data-stack chunk,
 * so the page below comes with it: a deep stack spans two pages. */
static void prefetch_starts(struct walk *w, uint64_t tstate_addr,
			    size_t tstate_size)
{
	const struct pf_layout *l = w->l;
	uint64_t tstates[PF_MAX_NTHREADS], starts[2 * PF_MAX_NTHREADS] = {0};
	uint8_t tstate[tstate_size];
	size_t n = 0;
	for (; tstate_addr != 0 && n < PF_MAX_NTHREADS; n++) {
		if (!pf_mem_read(w->mem, tstate_addr, tstate, tstate_size))
			break;
		tstates[n] = tstate_addr;
		starts[n] = l->cframe.current_frame == PF_NO_OFFSET
				    ? 0
				    : pf_field_u64(tstate, l->tstate.cframe) +
					      (uint64_t)l->cframe.current_frame;
		tstate_addr = pf_field_u64(tstate, l->tstate.next);
	}
	if (l->cframe.current_frame != PF_NO_OFFSET)
		pf_mem_prefetch(w->mem, starts, n);
	for (size_t i = 0; i < n; i++)
		starts[i] = pf_mem_read(w->mem, tstates[i], tstate, tstate_size)
				    ? newest_frame(w, tstate)
				    : 0;
	size_t wanted = n;
	for (size_t i = 0; l->frame_model == PF_FRAMES_INTERPRETER && i < n;
	     i++)
		if (starts[i] >= 2 * PF_MEM_PAGE)
			starts[wanted++] = starts[i] - PF_MEM_PAGE;
	pf_mem_prefetch(w->mem, starts, wanted);
}

/* One thread state, read into tstate, into t. */
static bool walk_thread(struct walk *w, const uint8_t *tstate,
			uint64_t tstate_addr, uint64_t interp,
			const struct gil_view *gil, bool is_current,
			struct pf_thread_dump *t)
{
	const struct pf_layout *l = w->l;
	memset(t, 0, sizeof *t);
	t->thread_id = pf_field_u64(tstate, l->tstate.thread_id);
	t->tid = w->in->stopped ? pf_proc_tid_of(w->in->stopped, t->thread_id)
				: 0;
	t->is_current = is_current;
	t->gc_collecting = is_current && gc_collecting(w, interp);
	if (w->in->collect_status)
		collect_status(w, t, tstate_addr, gil);
	return walk_frames(w, newest_frame(w, tstate), t);
}

/* Where walk_threads puts the threads of one interpreter. */
struct thread_list {
	struct pf_thread_dump *threads;
	size_t count, cap;        /* cap grows up to PF_MAX_NTHREADS */
	bool truncated;
	/* The main interpreter: the dump's current thread is found past
	 * PF_MAX_NTHREADS too, into snap->outside. */
	bool main;
};

/* The next slot of list, NULL when memory runs out. */
static struct pf_thread_dump *list_slot(struct thread_list *list)
{
	if (list->count == list->cap) {
		size_t cap = list->cap ? 2 * list->cap : 4;
		if (cap > PF_MAX_NTHREADS)
			cap = PF_MAX_NTHREADS;
		struct pf_thread_dump *grown =
			realloc(list->threads, cap * sizeof *grown);
		if (grown == NULL)
			return NULL;
		list->threads = grown;
		list->cap = cap;
	}
	return &list->threads[list->count++];
}

/* The threads of the interpreter at interp, as _Py_DumpTracebackThreads
 * lists them. */
static enum pf_status walk_threads(struct walk *w, uint64_t interp,
				  struct thread_list *list,
				  struct pf_error *err)
{
	const struct pf_layout *l = w->l;
	struct pf_snapshot *snap = w->snap;
	uint64_t tstate_addr = 0;
	if (!pf_mem_read_u64(w->mem, interp + l->interp.threads_head,
			     &tstate_addr))
		return pf_fail(err, PF_ERR_BAD_MEMORY,
			       "process %d: cannot read the interpreter state",
			       (int)w->in->pid);
	if (tstate_addr == 0 && list->main)
		return pf_fail(err, PF_ERR_NOT_READY,
			       "Python in process %d has no thread state: it is "
			       "starting up or shutting down",
			       (int)w->in->pid);
	struct gil_view gil = {0};
	if (w->in->current == PF_CURRENT_GIL_HOLDER || w->in->collect_status)
		gil = (struct gil_view){gil_address(w, interp),
					gil_holder(w, interp)};
	uint64_t current_tstate =
		w->in->current == PF_CURRENT_GIL_HOLDER ? gil.holder : 0;
	const int64_t fields[] = {l->tstate.next, l->tstate.interp,
				  l->tstate.thread_id, l->tstate.frame,
				  l->tstate.cframe};
	size_t tstate_size = pointer_fields_span(fields, 5);
	uint8_t tstate[tstate_size];
	prefetch_starts(w, tstate_addr, tstate_size);

	/* faulthandler dumps the first PF_MAX_NTHREADS threads, but finds the
	 * current one (its own) wherever it is in the list. */
	bool wants_current = list->main &&
			     (w->in->current == PF_CURRENT_THREAD ||
			      current_tstate != 0);
	bool found = false;
	for (unsigned seen = 0; tstate_addr != 0; seen++) {
		if (seen >= MAX_TSTATES)
			return pf_fail(err, PF_ERR_BAD_MEMORY,
				       "process %d: more than %u thread states: "
				       "the thread list loops",
				       (int)w->in->pid, MAX_TSTATES);
		bool listed = list->count < PF_MAX_NTHREADS;
		if (!listed) {
			list->truncated = true;
			if (!wants_current || found)
				break;
		}
		if (!pf_mem_read(w->mem, tstate_addr, tstate, tstate_size))
			return pf_fail(err, PF_ERR_BAD_MEMORY,
				       "process %d: cannot read the thread "
				       "state at 0x%llx",
				       (int)w->in->pid,
				       (unsigned long long)tstate_addr);
		/* A thread state that does not point back at its
		 * interpreter means the offsets are wrong: print nothing
		 * rather than garbage. */
		if (pf_field_u64(tstate, l->tstate.interp) != interp)
			return pf_fail(err, PF_ERR_BAD_MEMORY,
				       "process %d: the thread state at 0x%llx "
				       "does not point back at its interpreter, "
				       "so the offsets do not fit this build",
				       (int)w->in->pid,
				       (unsigned long long)tstate_addr);
		uint64_t thread_id = pf_field_u64(tstate, l->tstate.thread_id);
		bool is_current =
			w->in->current == PF_CURRENT_THREAD
				? thread_id == w->in->current_thread_id
				: current_tstate != 0 && tstate_addr == current_tstate;
		found |= is_current;
		if (listed || (is_current && list->main)) {
			struct pf_thread_dump *t =
				listed ? list_slot(list) : &snap->outside;
			snap->has_outside |= !listed;
			if (t == NULL ||
			    !walk_thread(w, tstate, tstate_addr, interp, &gil,
					 is_current, t))
				return pf_fail(err, PF_ERR_INTERNAL,
					       "out of memory");
		}
		tstate_addr = pf_field_u64(tstate, l->tstate.next);
	}
	/* A faulting thread without a thread state: faulthandler prints its
	 * C stack still. */
	if (list->main && w->in->current == PF_CURRENT_THREAD && !found &&
	    w->in->dumper_tid != 0) {
		snap->has_outside = true;
		snap->outside = (struct pf_thread_dump){
			.thread_id = w->in->current_thread_id,
			.tid = w->in->dumper_tid,
			.is_current = true,
			.no_tstate = true,
		};
	}
	return PF_OK;
}

/* The threads of every interpreter but the main one, oldest first (the
 * order of their ids).  A subinterpreter whose threads cannot be read
 * does not spoil the main interpreter's dump: it is marked unreadable. */
static enum pf_status walk_others(struct walk *w, const uint64_t *interps,
				  size_t count, struct pf_error *err)
{
	struct pf_snapshot *snap = w->snap;
	if (count == 0)
		return PF_OK;
	snap->interps = calloc(count, sizeof *snap->interps);
	if (snap->interps == NULL)
		return pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	for (size_t k = count; k-- > 0;) {
		struct pf_interp_dump *d = &snap->interps[snap->ninterps++];
		struct thread_list list = {0};
		struct pf_error sub = {0};
		d->addr = interps[k];
		d->id = interpreter_id(w, interps[k]);
		enum pf_status st = walk_threads(w, interps[k], &list, &sub);
		d->threads = list.threads;
		d->nthreads = list.count;
		d->threads_truncated = list.truncated;
		if (st == PF_ERR_INTERNAL)
			return pf_fail(err, st, "%s", sub.message);
		d->unreadable = st != PF_OK;
	}
	return PF_OK;
}

static enum pf_status walk_interpreters(struct walk *w, struct pf_error *err)
{
	struct pf_snapshot *snap = w->snap;
	/* The main interpreter and PF_MAX_INTERPRETERS others; past them
	 * the main one is not among them, and the others shown are the
	 * newest. */
	uint64_t interps[PF_MAX_INTERPRETERS + 1], interp;
	size_t count;
	bool more;
	if (!list_interpreters(w, interps, PF_MAX_INTERPRETERS + 1, &count,
			       &interp, &more))
		return pf_fail(err, PF_ERR_BAD_MEMORY,
			       "process %d: cannot read the interpreter state",
			       (int)w->in->pid);
	if (interp == 0)
		return pf_fail(err, PF_ERR_NOT_READY,
			       "Python in process %d has no thread state: it is "
			       "starting up or shutting down",
			       (int)w->in->pid);
	snap->interp = interp;
	snap->interp_id = interpreter_id(w, interp);
	snap->gil_disabled = gil_disabled(w, interp);
	struct thread_list list = {.threads = snap->threads,
				   .cap = PF_MAX_NTHREADS,
				   .main = true};
	enum pf_status st = walk_threads(w, interp, &list, err);
	snap->nthreads = list.count;
	snap->threads_truncated = list.truncated;
	if (st != PF_OK || w->in->main_interpreter_only)
		return st;
	snap->interps_truncated = more;
	return walk_others(w, interps, count - 1, err);
}

/* The thread's name as prctl(PR_GET_NAME) gives it to the thread itself. */
static void read_thread_name(const struct pf_walk_input *in, char *name,
			     size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)in->pid,
		 (int)(in->dumper_tid ? in->dumper_tid : in->pid));
	name[0] = '\0';
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return;
	if (fgets(name, (int)size, f) == NULL)
		name[0] = '\0';
	name[strcspn(name, "\n")] = '\0';
	fclose(f);
}

enum pf_status pf_walk(const struct pf_walk_input *in,
		       struct pf_snapshot *snap, struct pf_error *err)
{
	const struct pf_layout *l = in->layout;
	struct walk w = {.in = in, .l = l, .mem = in->mem, .snap = snap,
			 .budget = {PF_LOCALS_BUDGET_LOCALS,
				    PF_LOCALS_BUDGET_BYTES}};
	memset(snap, 0, sizeof *snap);
	snap->threads = calloc(PF_MAX_NTHREADS, sizeof *snap->threads);
	/* The records of the threads held, about to be written whole. */
	if (snap->threads && in->stopped)
		pf_populate(snap->threads,
			    (in->stopped->count < PF_MAX_NTHREADS
				     ? in->stopped->count
				     : PF_MAX_NTHREADS) *
				    sizeof *snap->threads);
	snap->codes = calloc(1, sizeof *snap->codes);
	w.frame_buf = malloc((size_t)l->frame.size);
	w.code_buf = malloc((size_t)l->code.size);
	enum pf_status st;
	snap->locals_read = in->locals_types != NULL;
	/* The target is held for the walk: each page of it is read once. */
	pf_mem_cache_begin(in->mem);
	if (!snap->threads || !snap->codes || !w.frame_buf || !w.code_buf)
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	else
		st = walk_interpreters(&w, err);
	pf_mem_cache_end(in->mem);
	if (st == PF_OK && l->thread_name_suffix && in->dumper_name)
		snprintf(snap->dumper_name, sizeof snap->dumper_name, "%s",
			 in->dumper_name);
	else if (st == PF_OK && l->thread_name_suffix)
		read_thread_name(in, snap->dumper_name,
				 sizeof snap->dumper_name);
	free(w.frame_buf);
	free(w.code_buf);
	if (st != PF_OK)
		pf_snapshot_free(snap);
	return st;
}

void pf_read_thread_names(struct pf_snapshot *snap, pid_t pid)
{
	for (size_t i = 0; i < pf_snapshot_count(snap); i++) {
		struct pf_thread_dump *t = pf_snapshot_thread(snap, i);
		char path[64];
		if (t->tid == 0)
			continue;
		snprintf(path, sizeof path, "/proc/%d/task/%d/comm", (int)pid,
			 (int)t->tid);
		FILE *f = fopen(path, "re");
		if (f == NULL)
			continue;
		if (fgets(t->name, sizeof t->name, f))
			t->name[strcspn(t->name, "\n")] = '\0';
		fclose(f);
	}
}

struct pf_frame_reader {
	struct walk w;
};

struct pf_frame_reader *pf_frame_reader_new(struct pf_mem *mem,
					    const struct pf_layout *layout,
					    struct pf_snapshot *snap)
{
	struct pf_frame_reader *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->w = (struct walk){.l = layout, .mem = mem, .snap = snap};
	r->w.frame_buf = malloc((size_t)layout->frame.size);
	r->w.code_buf = malloc((size_t)layout->code.size);
	if (snap->codes == NULL)
		snap->codes = calloc(1, sizeof *snap->codes);
	if (!r->w.frame_buf || !r->w.code_buf || !snap->codes) {
		pf_frame_reader_free(r);
		return NULL;
	}
	return r;
}

int pf_frame_reader_read(struct pf_frame_reader *r, uint64_t addr,
			 struct pf_frame *out, const uint8_t **raw)
{
	if (!read_frame(&r->w, addr))
		return 0;
	*raw = r->w.frame_buf;
	memset(out, 0, sizeof *out);
	return record_frame(&r->w, frame_code(&r->w), out) ? 1 : -1;
}

void pf_frame_reader_free(struct pf_frame_reader *r)
{
	if (r == NULL)
		return;
	free(r->w.frame_buf);
	free(r->w.code_buf);
	free(r);
}
