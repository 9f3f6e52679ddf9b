#include "walker.h"

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "linetable.h"
#include "py_string.h"
#include "thread_status.h"

/* Bounds a corrupt interpreter list; real processes have a handful. */
#define MAX_INTERPRETERS 4096
/* Line tables longer than this are taken as corrupt. */
#define MAX_LINETABLE (1u << 20)

struct code_entry {
	uint64_t addr;
	struct pf_text filename, name;
	int firstlineno;
	uint8_t *linetable;
	size_t linetable_len;
	bool readable;
	struct code_entry *next;
};

#define CODE_BUCKETS 256

/* Threads usually share most of their code objects, so each is read once. */
struct pf_code_cache {
	struct code_entry *buckets[CODE_BUCKETS];
};

struct walk {
	const struct pf_walk_input *in;
	const struct pf_layout *l;
	struct pf_mem *mem;
	struct pf_snapshot *snap;
	uint8_t *frame_buf;
	uint8_t *code_buf;
};

static bool read_linetable(struct walk *w, uint64_t bytes_obj,
			   struct code_entry *c)
{
	const struct pf_layout *l = w->l;
	int64_t size;
	if (!pf_mem_read(w->mem, bytes_obj + l->bytes.ob_size, &size,
			 sizeof size) ||
	    size < 0 || size > MAX_LINETABLE)
		return true;
	c->linetable = malloc(size ? (size_t)size : 1);
	if (c->linetable == NULL)
		return false;
	if (pf_mem_read(w->mem, bytes_obj + l->bytes.ob_sval, c->linetable,
			(size_t)size))
		c->linetable_len = (size_t)size;
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

static void native_frames_free(struct pf_thread_dump *thread)
{
	for (size_t i = 0; i < thread->nnative; i++) {
		free(thread->native[i].object);
		free(thread->native[i].symbol);
		free(thread->native[i].source_file);
	}
	free(thread->native);
}

void pf_snapshot_free(struct pf_snapshot *snap)
{
	for (size_t i = 0; snap->threads && i < snap->nthreads; i++)
		native_frames_free(&snap->threads[i]);
	code_cache_free(snap->codes);
	pf_module_list_free(&snap->modules);
	free(snap->threads);
	memset(snap, 0, sizeof *snap);
}

/* The byte offset of the frame's instruction, as the version's
 * PyFrame_GetLineNumber or _PyInterpreterFrame_GetLine computes it; sets
 * *lineno instead when 3.10's f_lineno decides. */
static int frame_address(const struct walk *w, uint64_t code_addr,
			 int *lineno)
{
	const struct pf_layout *l = w->l;
	if (l->frame_model == PF_FRAMES_OBJECTS) {
		if (l->frame.use_f_lineno)
			*lineno = pf_field_i32(w->frame_buf, l->frame.lineno);
		return pf_field_i32(w->frame_buf, l->frame.lasti) *
		       (int)l->frame.lasti_scale;
	}
	uint64_t instr = pf_field_u64(w->frame_buf, l->frame.instr);
	uint64_t first = code_addr + (uint64_t)l->code.code_adaptive;
	/* Code units are two bytes; a frame that has not started points one
	 * unit before the first, giving -2. */
	return (int)((int64_t)(instr - first) / 2) * 2;
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
	if (!c->readable)
		return true;
	int lineno = 0;
	int addr = frame_address(w, code_addr, &lineno);
	out->lineno = lineno != 0
			      ? lineno
			      : pf_line_number(l->line_table, c->linetable,
					       c->linetable_len,
					       c->firstlineno, addr);
	return true;
}

static bool read_frame(struct walk *w, uint64_t addr)
{
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

/* Mirrors dump_traceback() of the target's version: frames most recent
 * first, shim frames owned by the C stack skipped, at most
 * PF_MAX_FRAME_DEPTH printed. */
static bool walk_frames(struct walk *w, uint64_t frame,
			struct pf_thread_dump *t)
{
	const struct pf_layout *l = w->l;
	if (frame == 0 || !read_frame(w, frame))
		return true;
	if (l->skip_cstack_on_top && owned_by_cstack(w)) {
		frame = pf_field_u64(w->frame_buf, l->frame.back);
		if (frame == 0 || !read_frame(w, frame))
			return true;
	}
	for (;;) {
		if (t->nframes >= PF_MAX_FRAME_DEPTH) {
			t->frames_truncated = true;
			return true;
		}
		uint64_t code = pf_field_u64(w->frame_buf, l->frame.code);
		if (!record_frame(w, code, &t->frames[t->nframes++]))
			return false;
		frame = pf_field_u64(w->frame_buf, l->frame.back);
		if (frame == 0 || !read_frame(w, frame))
			return true;
		if (owned_by_cstack(w)) {
			frame = pf_field_u64(w->frame_buf, l->frame.back);
			if (frame == 0 || !read_frame(w, frame))
				return true;
		}
	}
}

/* The interpreters list is newest first: the main interpreter, whose
 * threads faulthandler dumps, is its last element.  Sets *interp to 0 when
 * there is none (yet, or any more). */
static bool main_interpreter(struct walk *w, uint64_t *interp)
{
	const struct pf_layout *l = w->l;
	uint64_t next;
	if (!pf_mem_read_u64(w->mem,
			     w->in->runtime + l->runtime.interpreters_head,
			     interp))
		return false;
	for (int i = 0; *interp != 0 && i < MAX_INTERPRETERS; i++) {
		if (!pf_mem_read_u64(w->mem, *interp + l->interp.next, &next))
			return false;
		if (next == 0)
			return true;
		*interp = next;
	}
	return *interp == 0;
}

/* Where the interpreter's GIL state is and which thread state holds it. */
struct gil_view {
	uint64_t addr;      /* 0 when unreadable */
	uint64_t holder;    /* 0 when none holds it */
};

static struct gil_view read_gil(struct walk *w, uint64_t interp)
{
	const struct pf_layout *l = w->l;
	struct gil_view gil = {0};
	uint64_t holder;
	int32_t locked;
	if (l->runtime.gil != PF_NO_OFFSET)
		gil.addr = w->in->runtime + (uint64_t)l->runtime.gil;
	else if (!pf_mem_read_u64(w->mem, interp + l->interp.gil_ptr,
				  &gil.addr))
		return gil;
	if (pf_mem_read_i32(w->mem, gil.addr + l->gil.locked, &locked) &&
	    locked &&
	    pf_mem_read_u64(w->mem, gil.addr + l->gil.last_holder, &holder))
		gil.holder = holder;
	return gil;
}

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

static enum pf_status walk_threads(struct walk *w, struct pf_error *err)
{
	const struct pf_layout *l = w->l;
	struct pf_snapshot *snap = w->snap;
	uint64_t interp, tstate_addr = 0;
	if (!main_interpreter(w, &interp) ||
	    (interp != 0 &&
	     !pf_mem_read_u64(w->mem, interp + l->interp.threads_head,
			      &tstate_addr)))
		return pf_fail(err, PF_ERR_BAD_MEMORY,
			       "process %d: cannot read the interpreter state",
			       (int)w->in->pid);
	snap->interp = interp;
	if (tstate_addr == 0)
		return pf_fail(err, PF_ERR_NOT_READY,
			       "Python in process %d has no thread state: it is "
			       "starting up or shutting down",
			       (int)w->in->pid);
	struct gil_view gil = {0};
	if (w->in->current == PF_CURRENT_GIL_HOLDER || w->in->collect_status)
		gil = read_gil(w, interp);
	uint64_t current_tstate =
		w->in->current == PF_CURRENT_GIL_HOLDER ? gil.holder : 0;
	const int64_t fields[] = {l->tstate.next, l->tstate.interp,
				  l->tstate.thread_id, l->tstate.frame,
				  l->tstate.cframe};
	size_t tstate_size = pointer_fields_span(fields, 5);
	uint8_t tstate[tstate_size];

	while (tstate_addr != 0) {
		if (snap->nthreads >= PF_MAX_NTHREADS) {
			snap->threads_truncated = true;
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
		struct pf_thread_dump *t = &snap->threads[snap->nthreads++];
		memset(t, 0, sizeof *t);
		t->thread_id = pf_field_u64(tstate, l->tstate.thread_id);
		t->tid = w->in->stopped
				 ? pf_proc_tid_of(w->in->stopped, t->thread_id)
				 : 0;
		t->is_current =
			w->in->current == PF_CURRENT_THREAD
				? t->thread_id == w->in->current_thread_id
				: current_tstate != 0 && tstate_addr == current_tstate;
		t->gc_collecting = t->is_current && gc_collecting(w, interp);
		if (w->in->collect_status)
			collect_status(w, t, tstate_addr, &gil);
		if (!walk_frames(w, newest_frame(w, tstate), t))
			return pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		tstate_addr = pf_field_u64(tstate, l->tstate.next);
	}
	return PF_OK;
}

enum pf_status pf_walk(const struct pf_walk_input *in,
		       struct pf_snapshot *snap, struct pf_error *err)
{
	const struct pf_layout *l = in->layout;
	struct walk w = {.in = in, .l = l, .mem = in->mem, .snap = snap};
	memset(snap, 0, sizeof *snap);
	snap->threads = calloc(PF_MAX_NTHREADS, sizeof *snap->threads);
	snap->codes = calloc(1, sizeof *snap->codes);
	w.frame_buf = malloc((size_t)l->frame.size);
	w.code_buf = malloc((size_t)l->code.size);
	enum pf_status st;
	if (!snap->threads || !snap->codes || !w.frame_buf || !w.code_buf)
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	else
		st = walk_threads(&w, err);
	free(w.frame_buf);
	free(w.code_buf);
	if (st != PF_OK)
		pf_snapshot_free(snap);
	return st;
}
