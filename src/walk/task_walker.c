#include "walk/task_walker.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk/py_dict.h"
#include "walk/py_string.h"
#include "walk/task_registry.h"
#include "walk/walker.h"

/* Bounds a looping or corrupt task list: a process with millions of
 * pending tasks has other problems than a dump that stops early. */
#define MAX_LIST_NODES (1u << 22)
/* Bounds the threads looked at, as the thread walk does. */
#define MAX_TSTATES (1u << 20)
/* Links followed down one await chain; longer means a loop.  faulthandler's
 * PF_MAX_FRAME_DEPTH of them are kept, the innermost. */
#define MAX_CHAIN 4096
/* The largest awaited_by set read, in entries. */
#define MAX_SET_ENTRIES (1u << 16)
/* PyFrameState (pycore_frame.h, 3.13+): FRAME_COMPLETED and above have
 * no frame to show. */
#define FRAME_COMPLETED 1
/* object.h's type flags. */
#define TPFLAGS_HEAPTYPE (1ull << 9)
#define TPFLAGS_LONG_SUBCLASS (1ull << 24)
#define TPFLAGS_UNICODE_SUBCLASS (1ull << 28)
/* PyLongObject of 3.12+ (pycore_long.h): lv_tag holds the digit count
 * above _PyLong_NON_SIZE_BITS, the sign in its two low bits (2: negative);
 * 30-bit digits. */
#define LONG_NON_SIZE_BITS 3
#define LONG_SIGN_NEGATIVE 2
#define LONG_DIGIT_BITS 30
/* The largest list of a gather's children read. */
#define MAX_CHILDREN (1u << 20)
/* The RESUME after a yield from's YIELD_VALUE: oparg 2 or 3 (3.11, 3.12's
 * _PyGen_yf). */
#define RESUME_AFTER_AWAIT 2
/* Type names remembered, for the objects awaited at chains' ends. */
#define TYPE_NAMES 16

struct type_name {
	uint64_t type;
	char name[64];
};

/* What 3.11-3.13 keep of a task's awaits besides its chain. */
struct registry_links {
	uint64_t fut_waiter;          /* task_fut_waiter, _fut_waiter */
	uint64_t group;               /* the TaskGroup whose __aexit__ the
	                                 task's chain is in, or 0 */
};

struct tw {
	const struct pf_task_walk_input *in;
	const struct pf_layout *l;
	const struct pf_asyncio_layout *a;
	struct pf_mem *mem;
	struct pf_task_list *list;
	struct pf_frame_reader *frames;
	uint8_t *task_buf;
	struct pf_frame *chain;       /* MAX_CHAIN links, outermost first */
	uint64_t *coros;              /* the coroutine of each link */
	size_t capacity;              /* of list->tasks */
	size_t nodes;                 /* list nodes seen, all lists */
	bool stop;                    /* a note ended the walk */
	struct type_name types[TYPE_NAMES];
	size_t ntypes;
	/* Where a generator keeps its frame and state: 3.14's debug
	 * offsets, or 3.11-3.13's DWARF. */
	int64_t gi_iframe, gi_frame_state, tp_name;
	size_t nlinks;                /* of the last chain walked */
	bool awaited_by_kept;         /* 3.14+: a future keeps the tasks
	                                 awaiting it */
	struct pf_reader r;
	struct registry_links *links; /* 3.11-3.13: by task index */
};

static void note(struct tw *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The first reason the list is incomplete; the walk ends there. */
static void note(struct tw *w, const char *fmt, ...)
{
	w->stop = true;
	if (w->list->note[0] != '\0')
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->list->note, sizeof w->list->note, fmt, ap);
	va_end(ap);
}

static bool read_u64(struct tw *w, uint64_t addr, uint64_t *out)
{
	return pf_mem_read_u64(w->mem, addr, out);
}

void pf_task_list_free(struct pf_task_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		pf_text_free(&list->tasks[i].name);
		free(list->tasks[i].frames);
		free(list->tasks[i].awaited_by);
		free(list->tasks[i].awaiting);
		free(list->tasks[i].awaiter_ids);
	}
	free(list->tasks);
	free(list->loops);
	memset(list, 0, sizeof *list);
}

/* The first field of fields[0..n) that layout lacks, or NULL. */
struct need {
	const char *name;
	int64_t offset;
};

static const char *first_missing(const struct need *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fields[i].offset == PF_NO_OFFSET)
			return fields[i].name;
	return NULL;
}

bool pf_task_layout_complete(const struct pf_layout *l,
			     enum pf_asyncio_model model, const char **missing)
{
	if (model == PF_ASYNCIO_REGISTRY) {
		/* 3.14 (pure-Python tasks) has the generator's offsets and
		 * the stack pointer among its debug offsets. */
		const bool debug_offsets = l->coro.gi_iframe != PF_NO_OFFSET;
		const struct need fields[] = {
			{"PyGenObject.gi_iframe", debug_offsets
							  ? l->coro.gi_iframe
							  : l->gen.gi_iframe},
			{"PyGenObject.gi_frame_state",
			 debug_offsets ? l->coro.gi_frame_state
				       : l->gen.gi_frame_state},
			{debug_offsets ? "_PyInterpreterFrame.stackpointer"
				       : "_PyInterpreterFrame.stacktop",
			 debug_offsets ? l->coro.stackpointer
				       : l->frame.stacktop},
			{"_PyInterpreterFrame.localsplus", l->locals.localsplus},
			/* Only 3.11 and 3.12 tell a yield from by the next
			 * instruction. */
			{"_PyInterpreterFrame.prev_instr",
			 l->frame_suspended_yield_from != 0 ? 0
							    : l->frame.instr},
			{"PyTypeObject.tp_name", debug_offsets
							 ? l->coro.tp_name
							 : l->type_name.tp_name},
			{"PyWeakReference.wr_object", l->weakref.wr_object},
			{"PyInterpreterState.modules", l->interp.modules},
			{"PyModuleObject.md_dict", l->module.md_dict},
			{"PySetObject.mask", l->set.mask},
			{"PySetObject.table", l->set.table},
			{"setentry.key", l->set_entry.key},
			{"sizeof(setentry)", l->set_entry.size},
			{"PyListObject.ob_item", l->list.ob_item},
			{"PyListObject.ob_size", l->list.ob_size},
			{"PyHeapTypeObject.ht_cached_keys",
			 l->heap_type.ht_cached_keys},
		};
		*missing = first_missing(fields,
					 sizeof fields / sizeof *fields);
		if (*missing == NULL && l->frame_suspended_yield_from == 0 &&
		    l->resume_opcode < 0)
			*missing = "FRAME_SUSPENDED_YIELD_FROM";
		return *missing == NULL;
	}
	const struct need fields[] = {
		{"gen_object.gi_iframe", l->coro.gi_iframe},
		{"gen_object.gi_frame_state", l->coro.gi_frame_state},
		{"interpreter_frame.stackpointer", l->coro.stackpointer},
		{"llist_node.next", l->coro.llist_next},
		{"type_object.tp_name", l->coro.tp_name},
		{"long_object.lv_tag", l->coro.lv_tag},
		{"long_object.ob_digit", l->coro.ob_digit},
	};
	*missing = first_missing(fields, sizeof fields / sizeof *fields);
	if (*missing != NULL)
		return false;
	/* struct llist_node is {next, prev}: the only two places. */
	if (l->coro.llist_next != 0 && l->coro.llist_next != 8) {
		*missing = "llist_node.next";
		return false;
	}
	if (l->frame_suspended_yield_from == 0) {
		*missing = "FRAME_SUSPENDED_YIELD_FROM";
		return false;
	}
	return true;
}

/* A note that does not end the walk: one task's chain was cut. */
static void chain_note(struct tw *w, const char *what, uint64_t task,
		       uint64_t at)
{
	if (w->list->note[0] == '\0')
		snprintf(w->list->note, sizeof w->list->note,
			 "the await chain of task 0x%llx %s at 0x%llx: its "
			 "frames past there are not shown",
			 (unsigned long long)task, what,
			 (unsigned long long)at);
}

/* Whether coro is already a link of the chain's first n: a chain that
 * changed while it was read, or corrupt memory, never a real await. */
static bool seen_before(const struct tw *w, size_t n, uint64_t coro)
{
	for (size_t i = 0; i < n; i++)
		if (w->coros[i] == coro)
			return true;
	return false;
}

/* A str made of the ASCII in s. */
static bool ascii_text(const char *s, struct pf_text *text)
{
	size_t n = strlen(s);
	text->chars = malloc((n ? n : 1) * sizeof *text->chars);
	if (text->chars == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		text->chars[i] = (unsigned char)s[i];
	text->length = (uint32_t)n;
	text->present = true;
	return true;
}

/* An int of at most two digits, as the task counter's names are. */
static bool read_small_long(struct tw *w, uint64_t obj, long long *value)
{
	const struct pf_layout *l = w->l;
	uint64_t tag;
	uint32_t digits[2] = {0, 0};
	if (!read_u64(w, obj + (uint64_t)l->coro.lv_tag, &tag))
		return false;
	uint64_t n = tag >> LONG_NON_SIZE_BITS;
	if (n > 2 || (n > 0 && !pf_mem_read(w->mem,
					     obj + (uint64_t)l->coro.ob_digit,
					     digits, n * sizeof *digits)))
		return false;
	long long v = (long long)digits[0] |
		      (long long)digits[1] << LONG_DIGIT_BITS;
	*value = (tag & 3) == LONG_SIGN_NEGATIVE ? -v : v;
	return true;
}

/* The task's name as Task.get_name() gives it: the str, or "Task-N" for
 * the counter 3.14 keeps instead until asked.  Not present when it is
 * neither. */
static bool read_name(struct tw *w, uint64_t obj, struct pf_text *name)
{
	const struct pf_layout *l = w->l;
	uint64_t type, flags;
	long long counter;
	memset(name, 0, sizeof *name);
	if (!read_u64(w, obj + (uint64_t)l->object.ob_type, &type) ||
	    !read_u64(w, type + (uint64_t)l->type.tp_flags, &flags))
		return true;
	if (flags & TPFLAGS_UNICODE_SUBCLASS)
		return pf_read_text(w->mem, l, obj, name);
	if ((flags & TPFLAGS_LONG_SUBCLASS) &&
	    read_small_long(w, obj, &counter)) {
		char s[32];
		snprintf(s, sizeof s, "Task-%lld", counter);
		return ascii_text(s, name);
	}
	return true;
}

/* tp_name of type into name ("" when unreadable), remembered. */
static void type_name(struct tw *w, uint64_t type, char *name, size_t size)
{
	for (size_t i = 0; i < w->ntypes; i++)
		if (w->types[i].type == type) {
			snprintf(name, size, "%s", w->types[i].name);
			return;
		}
	struct type_name *t = &w->types[w->ntypes % TYPE_NAMES];
	uint64_t str;
	t->type = type;
	t->name[0] = '\0';
	if (read_u64(w, type + (uint64_t)w->tp_name, &str))
		/* Byte by byte up to the NUL: the name may end a mapping. */
		for (size_t i = 0; i + 1 < sizeof t->name; i++) {
			char c;
			if (!pf_mem_read(w->mem, str + i, &c, 1) || c == '\0') {
				t->name[i] = '\0';
				break;
			}
			t->name[i] = c;
			t->name[i + 1] = '\0';
		}
	w->ntypes++;
	snprintf(name, size, "%s", t->name);
}

/* The chain's n links (outermost first in w->chain) into t, innermost
 * first as faulthandler lists frames, at most PF_MAX_FRAME_DEPTH. */
static bool keep_innermost(struct tw *w, size_t n, bool cut,
			   struct pf_task *t)
{
	size_t keep = n;
	if (keep > PF_MAX_FRAME_DEPTH)
		keep = PF_MAX_FRAME_DEPTH;
	t->frames_truncated = cut || n > keep;
	if (keep == 0)
		return true;
	t->frames = malloc(keep * sizeof *t->frames);
	if (t->frames == NULL)
		return false;
	for (size_t i = 0; i < keep; i++)
		t->frames[i] = w->chain[n - 1 - i];
	t->nframes = keep;
	return true;
}

/* What the generator whose frame is at iframe (raw: its bytes) awaits,
 * as _PyGen_yf finds it: the top of its value stack when it is suspended
 * in a yield from; 0 when it is not. */
static uint64_t awaited(struct tw *w, int8_t state, uint64_t iframe,
			const uint8_t *raw)
{
	const struct pf_layout *l = w->l;
	uint64_t top, ref;
	if (l->frame_suspended_yield_from != 0) {
		if (state != l->frame_suspended_yield_from)
			return 0;
	} else {
		/* 3.11, 3.12: the instruction after prev_instr tells. */
		uint8_t next[2];
		if (state != l->frame_suspended ||
		    !pf_mem_read(w->mem, pf_field_u64(raw, l->frame.instr) + 2,
				 next, sizeof next) ||
		    (next[0] != l->resume_opcode &&
		     next[0] != l->resume_opcode_alt) ||
		    next[1] < RESUME_AFTER_AWAIT)
			return 0;
	}
	if (l->coro.stackpointer != PF_NO_OFFSET) {
		top = pf_field_u64(raw, l->coro.stackpointer);
		if (top < 8)
			return 0;
		top -= 8;
	} else {
		int32_t depth;
		if (!pf_mem_read(w->mem, iframe + (uint64_t)l->frame.stacktop,
				 &depth, sizeof depth) ||
		    depth < 1)
			return 0;
		top = iframe + (uint64_t)l->locals.localsplus +
		      8 * (uint64_t)(depth - 1);
	}
	if (!read_u64(w, top, &ref))
		return 0;
	return ref & ~l->code_tag_mask;
}

/* Whether the type named name at type is the built-in (static) type of
 * that name, not a class that took its name. */
static bool builtin_type(struct tw *w, uint64_t type, const char *want)
{
	char name[64];
	uint64_t flags;
	type_name(w, type, name, sizeof name);
	return strcmp(name, want) == 0 &&
	       read_u64(w, type + (uint64_t)w->l->type.tp_flags, &flags) &&
	       !(flags & TPFLAGS_HEAPTYPE);
}

/* The async generator that the asend or athrow object obj (of type type)
 * runs, read at offset; 0 when obj is not one or the offset is unknown. */
static uint64_t async_gen_of(struct tw *w, uint64_t obj, uint64_t type,
			     const char *type_want, int64_t offset)
{
	uint64_t gen, gen_type;
	if (offset == PF_NO_OFFSET || !builtin_type(w, type, type_want) ||
	    !read_u64(w, obj + (uint64_t)offset, &gen) || gen == 0 ||
	    !read_u64(w, gen + (uint64_t)w->l->object.ob_type, &gen_type) ||
	    !builtin_type(w, gen_type, "async_generator"))
		return 0;
	return gen;
}

/* The coroutine whose __await__() gave the coroutine_wrapper obj (of
 * type type); 0 when obj is not one or the offset is unknown. */
static uint64_t wrapped_coro(struct tw *w, uint64_t obj, uint64_t type,
			     int64_t offset)
{
	uint64_t coro, coro_type;
	if (offset == PF_NO_OFFSET || w->in->coro_type == 0 ||
	    !builtin_type(w, type, "coroutine_wrapper") ||
	    !read_u64(w, obj + (uint64_t)offset, &coro) || coro == 0 ||
	    !read_u64(w, coro + (uint64_t)w->l->object.ob_type, &coro_type) ||
	    coro_type != w->in->coro_type)
		return 0;
	return coro;
}

/* What the awaitable obj that is not a coroutine stands for: the async
 * generator an `async for` or anext() (asend) or aclose() (athrow) runs,
 * or the coroutine whose __await__() a `yield from` or an __await__
 * method returned (coroutine_wrapper), whose frame the chain goes on
 * through (*is_gen), or the future that `await future` (FutureIter) waits
 * on.  0 when it is none of those, or this build's DWARF did not say
 * where they keep it. */
static uint64_t look_through(struct tw *w, uint64_t obj, uint64_t type,
			     bool *is_gen)
{
	const struct pf_await_layout *o = w->in->awaits;
	uint64_t inner;
	char name[64];
	*is_gen = true;
	if (o == NULL)
		return 0;
	if ((inner = async_gen_of(w, obj, type, "async_generator_asend",
				  o->asend_gen)) != 0 ||
	    (inner = async_gen_of(w, obj, type, "async_generator_athrow",
				  o->athrow_gen)) != 0 ||
	    (inner = wrapped_coro(w, obj, type, o->wrapper_coro)) != 0)
		return inner;
	*is_gen = false;
	/* A heap type of _asyncio: a class's tp_name has no module part. */
	type_name(w, type, name, sizeof name);
	if (o->futureiter_future == PF_NO_OFFSET ||
	    strcmp(name, "_asyncio.FutureIter") != 0 ||
	    !read_u64(w, obj + (uint64_t)o->futureiter_future, &inner))
		return 0;
	return inner;
}

/* Follows the await chain from the task's coroutine as _PyGen_yf does:
 * a generator suspended in a yield from (an await) has what it awaits on
 * top of its frame's stack; coroutines and generators are followed, and
 * async generators through the objects that run them; any other
 * awaitable ends the chain and is named (a FutureIter by its future). */
static bool walk_chain(struct tw *w, uint64_t coro, struct pf_task *t)
{
	const struct pf_layout *l = w->l;
	size_t n = 0;
	bool cut = false;
	while (coro != 0) {
		int8_t state;
		const uint8_t *raw;
		uint64_t next, type;
		if (n >= MAX_CHAIN || seen_before(w, n, coro)) {
			chain_note(w, n >= MAX_CHAIN ? "is longer than 4096 links"
						     : "loops back",
				   t->id, coro);
			cut = true;
			break;
		}
		if (!pf_mem_read(w->mem, coro + (uint64_t)w->gi_frame_state,
				 &state, 1) ||
		    state >= FRAME_COMPLETED)
			break;
		uint64_t iframe = coro + (uint64_t)w->gi_iframe;
		int r = pf_frame_reader_read(w->frames, iframe, &w->chain[n],
					     &raw);
		if (r < 0)
			return false;
		if (r == 0)
			break;
		w->coros[n++] = coro;
		next = awaited(w, state, iframe, raw);
		if (next == 0 ||
		    !read_u64(w, next + (uint64_t)l->object.ob_type, &type))
			break;
		if (type != 0 && (type == w->in->coro_type ||
				  type == w->in->gen_type)) {
			coro = next;
			continue;
		}
		bool is_gen;
		uint64_t inner = look_through(w, next, type, &is_gen);
		if (inner != 0 && is_gen) {
			coro = inner;
			continue;
		}
		if (inner != 0 &&
		    read_u64(w, inner + (uint64_t)l->object.ob_type, &type))
			next = inner;
		t->awaits_object = next;
		type_name(w, type, t->awaits_type, sizeof t->awaits_type);
		break;
	}
	w->nlinks = n;
	return keep_innermost(w, n, cut, t);
}

/* The keys of the set at addr: every entry whose key is set (a dummy's
 * too; pf_walk_tasks keeps only the keys that are tasks). */
static bool set_keys(struct tw *w, uint64_t addr, uint64_t **out,
		     size_t *nout)
{
	const struct pf_layout *l = w->l;
	int64_t mask;
	uint64_t table;
	*out = NULL;
	*nout = 0;
	if (l->set.mask == PF_NO_OFFSET || l->set.table == PF_NO_OFFSET ||
	    l->set_entry.key == PF_NO_OFFSET ||
	    l->set_entry.size == PF_NO_OFFSET) {
		if (w->list->note[0] == '\0')
			snprintf(w->list->note, sizeof w->list->note,
				 "the tasks awaiting a gather or TaskGroup "
				 "child are not linked: this build's set "
				 "layout is unknown (no DWARF)");
		return true;
	}
	if (!pf_mem_read(w->mem, addr + (uint64_t)l->set.mask, &mask,
			 sizeof mask) ||
	    !read_u64(w, addr + (uint64_t)l->set.table, &table) || mask < 0 ||
	    (uint64_t)mask >= MAX_SET_ENTRIES)
		return true;
	size_t n = (size_t)mask + 1, esize = (size_t)l->set_entry.size;
	uint8_t *entries = malloc(n * esize);
	uint64_t *keys = malloc(n * sizeof *keys);
	bool ok = entries && keys;
	if (ok && pf_mem_read(w->mem, table, entries, n * esize)) {
		for (size_t i = 0; i < n; i++) {
			uint64_t key = pf_field_u64(entries + i * esize,
						    l->set_entry.key);
			if (key != 0)
				keys[(*nout)++] = key;
		}
	}
	free(entries);
	if (ok && *nout > 0) {
		*out = keys;
		return true;
	}
	*nout = 0;
	free(keys);
	return ok;
}

static bool read_set_keys(struct tw *w, uint64_t addr, struct pf_task *t)
{
	return set_keys(w, addr, &t->awaiter_ids, &t->nawaiter_ids);
}

static bool read_awaited_by(struct tw *w, const uint8_t *task,
			    struct pf_task *t)
{
	const struct pf_asyncio_layout *a = w->a;
	uint64_t by = pf_field_u64(task, a->task.awaited_by);
	if (by == 0)
		return true;
	if (pf_field_u8(task, a->task.awaited_by_is_set))
		return read_set_keys(w, by, t);
	t->awaiter_ids = malloc(sizeof *t->awaiter_ids);
	if (t->awaiter_ids == NULL)
		return false;
	t->awaiter_ids[0] = by;
	t->nawaiter_ids = 1;
	return true;
}

static struct pf_task *new_task(struct tw *w)
{
	struct pf_task_list *list = w->list;
	if (list->count == w->capacity) {
		size_t capacity = w->capacity ? 2 * w->capacity : 64;
		struct pf_task *tasks =
			realloc(list->tasks, capacity * sizeof *tasks);
		if (tasks == NULL)
			return NULL;
		list->tasks = tasks;
		w->capacity = capacity;
	}
	struct pf_task *t = &list->tasks[list->count++];
	memset(t, 0, sizeof *t);
	return t;
}

static bool add_task(struct tw *w, uint64_t addr, uint64_t thread_id,
		     uint64_t loop)
{
	const struct pf_asyncio_layout *a = w->a;
	if (!pf_mem_read(w->mem, addr, w->task_buf, (size_t)a->task.size) ||
	    !pf_field_u8(w->task_buf, a->task.is_task)) {
		note(w, "the task list breaks at 0x%llx, which is not a "
			"readable task: tasks past it are not shown",
		     (unsigned long long)addr);
		return true;
	}
	struct pf_task *t = new_task(w);
	if (t == NULL)
		return false;
	t->id = addr;
	t->state = PF_TASK_PENDING;
	t->thread_id = thread_id;
	t->loop = loop;
	return read_name(w, pf_field_u64(w->task_buf, a->task.name),
			 &t->name) &&
	       read_awaited_by(w, w->task_buf, t) &&
	       walk_chain(w, pf_field_u64(w->task_buf, a->task.coro), t);
}

/* The node after node, whose own prev must point back to it: a list
 * that changed while it was read, or memory that is not a list, ends the
 * walk with a note, never a task seen twice. */
static bool next_node(struct tw *w, uint64_t head, uint64_t node,
		      uint64_t *next)
{
	const uint64_t next_at = (uint64_t)w->l->coro.llist_next;
	/* struct llist_node is {next, prev}. */
	const uint64_t prev_at = 8 - next_at;
	uint64_t back;
	if (!read_u64(w, node + next_at, next)) {
		note(w, "cannot read the task list node at 0x%llx",
		     (unsigned long long)node);
		return false;
	}
	if (*next != 0 && (!read_u64(w, *next + prev_at, &back) ||
			   back != node)) {
		note(w, "the task list at 0x%llx changed or is corrupt at "
			"0x%llx: tasks past %zu are not shown",
		     (unsigned long long)head, (unsigned long long)node,
		     w->list->count);
		return false;
	}
	return true;
}

/* The circular list of tasks whose head is at head. */
static bool walk_list(struct tw *w, uint64_t head, uint64_t thread_id,
		      uint64_t loop)
{
	uint64_t node;
	if (!next_node(w, head, head, &node))
		return true;
	while (node != head && !w->stop) {
		if (node == 0 || ++w->nodes > MAX_LIST_NODES) {
			note(w, "the task list at 0x%llx does not come back to "
				"its head: tasks past %zu are not shown",
			     (unsigned long long)head, w->list->count);
			return true;
		}
		if (w->list->count >= PF_MAX_TASKS) {
			w->list->truncated = true;
			w->stop = true;
			return true;
		}
		if (!add_task(w, node - (uint64_t)w->a->task.node, thread_id,
			      loop))
			return false;
		if (!w->stop)
			next_node(w, head, node, &node);
	}
	return true;
}

static bool add_loop(struct tw *w, uint64_t thread_id, uint64_t loop,
		     uint64_t running_task)
{
	struct pf_task_list *list = w->list;
	struct pf_task_loop *loops =
		realloc(list->loops, (list->nloops + 1) * sizeof *loops);
	if (loops == NULL)
		return false;
	list->loops = loops;
	loops[list->nloops++] =
		(struct pf_task_loop){thread_id, loop, running_task};
	return true;
}

/* Every thread's list (the tasks created in it), then the interpreter's
 * (those of threads that have ended). */
static bool walk_lists(struct tw *w, uint64_t interp)
{
	const struct pf_layout *l = w->l;
	const struct pf_asyncio_layout *a = w->a;
	uint64_t tstate;
	if (!read_u64(w, interp + (uint64_t)l->interp.threads_head, &tstate)) {
		note(w, "cannot read the thread list for the tasks");
		return true;
	}
	for (unsigned seen = 0; tstate != 0 && !w->stop; seen++) {
		uint64_t thread_id, loop, running, next;
		if (seen >= MAX_TSTATES ||
		    !read_u64(w, tstate + (uint64_t)l->tstate.thread_id,
			      &thread_id) ||
		    !read_u64(w, tstate + (uint64_t)a->tstate.running_loop,
			      &loop) ||
		    !read_u64(w, tstate + (uint64_t)a->tstate.running_task,
			      &running) ||
		    !read_u64(w, tstate + (uint64_t)l->tstate.next, &next)) {
			note(w, "cannot read the thread state at 0x%llx for "
				"its tasks",
			     (unsigned long long)tstate);
			return true;
		}
		if (loop != 0 && !add_loop(w, thread_id, loop, running))
			return false;
		if (!walk_list(w, tstate + (uint64_t)a->tstate.tasks_head,
			       thread_id, loop))
			return false;
		tstate = next;
	}
	return w->stop ||
	       walk_list(w, interp + (uint64_t)a->interp.tasks_head, 0, 0);
}

/* Task ids sorted, to find a task by id. */
struct id_index {
	uint64_t id;
	size_t index;
};

static int compare_ids(const void *x, const void *y)
{
	uint64_t a = ((const struct id_index *)x)->id;
	uint64_t b = ((const struct id_index *)y)->id;
	return a < b ? -1 : a > b;
}

static size_t find_task(const struct id_index *ids, size_t n, uint64_t id)
{
	struct id_index key = {id, 0};
	const struct id_index *hit =
		bsearch(&key, ids, n, sizeof *ids, compare_ids);
	return hit ? hit->index : SIZE_MAX;
}

/* *out: the loop's entry, added (with the thread asyncio's BaseEventLoop
 * runs it in: its _thread_id) when new; NULL when it is not running
 * (_thread_id None).  False when memory runs out. */
static bool registry_loop(struct tw *w, uint64_t loop,
			  struct pf_task_loop **out)
{
	struct pf_task_list *list = w->list;
	uint64_t thread_id, id;
	*out = NULL;
	for (size_t i = 0; i < list->nloops; i++)
		if (list->loops[i].loop == loop) {
			*out = &list->loops[i];
			return true;
		}
	id = pf_instance_attr(&w->r, loop, "_thread_id");
	if (id == 0 || !pf_read_uint64(&w->r, id, &thread_id))
		return true;
	if (!add_loop(w, thread_id, loop, 0))
		return false;
	*out = &list->loops[list->nloops - 1];
	return true;
}

/* The TaskGroup whose `async with` the task at task is leaving, as found
 * in the chain just walked: an __aexit__ frame whose first local (self)
 * is a TaskGroup of that parent task.  3.14 links a group's children to
 * its parent itself; 3.11-3.13 keep no such link. */
static uint64_t group_exited(struct tw *w, uint64_t group_type,
			     uint64_t task)
{
	const struct pf_layout *l = w->l;
	if (group_type == 0)
		return 0;
	for (size_t k = w->nlinks; k-- > 0;) {
		uint64_t self;
		if (w->chain[k].name == NULL ||
		    !pf_text_is_ascii(w->chain[k].name, "__aexit__") ||
		    !read_u64(w, w->coros[k] + (uint64_t)w->gi_iframe +
					 (uint64_t)l->locals.localsplus,
			      &self))
			continue;
		self &= ~l->code_tag_mask;
		if (self != 0 && pf_is_instance(&w->r, self, group_type) &&
		    pf_instance_attr(&w->r, self, "_parent_task") == task)
			return self;
	}
	return 0;
}

/* Reads the pending task at addr: an _asyncio.Task by its TaskObj, a
 * pure-Python Task through its instance dict.  Others are left out. */
static bool registry_task(struct tw *w, const struct pf_task_registry *reg,
			  uint64_t addr)
{
	const struct pf_asyncio_layout *a = w->a;
	uint64_t loop, waiter, coro, name;
	if (reg->ctask_type != 0 && a->ctask.size > 0 &&
	    pf_is_instance(&w->r, addr, reg->ctask_type)) {
		uint32_t state;
		if (!pf_mem_read(w->mem, addr, w->task_buf,
				 (size_t)a->ctask.size))
			return true;
		memcpy(&state, w->task_buf + a->ctask.state, sizeof state);
		if (state != 0) /* STATE_PENDING */
			return true;
		loop = pf_field_u64(w->task_buf, a->ctask.loop);
		waiter = pf_field_u64(w->task_buf, a->ctask.fut_waiter);
		coro = pf_field_u64(w->task_buf, a->ctask.coro);
		name = pf_field_u64(w->task_buf, a->ctask.name);
	} else if (reg->pytask_type != 0 &&
		   pf_is_instance(&w->r, addr, reg->pytask_type)) {
		/* Future keeps _state = _PENDING in the class until the
		 * instance's state changes. */
		uint64_t state = pf_instance_attr(&w->r, addr, "_state");
		if (state != 0 && !pf_str_is(&w->r, state, "PENDING"))
			return true;
		loop = pf_instance_attr(&w->r, addr, "_loop");
		waiter = pf_instance_attr(&w->r, addr, "_fut_waiter");
		coro = pf_instance_attr(&w->r, addr, "_coro");
		name = pf_instance_attr(&w->r, addr, "_name");
	} else {
		return true;
	}
	size_t index = w->list->count;
	struct pf_task *t = new_task(w);
	struct registry_links *links =
		t ? realloc(w->links, w->capacity * sizeof *links) : NULL;
	if (links == NULL)
		return false;
	w->links = links;
	links[index] = (struct registry_links){waiter, 0};
	t->id = addr;
	t->state = PF_TASK_PENDING;
	t->loop = loop;
	struct pf_task_loop *l = NULL;
	if (loop != 0 && !registry_loop(w, loop, &l))
		return false;
	t->thread_id = l ? l->thread_id : 0;
	t->loop_stopped = loop != 0 && l == NULL;
	if (!read_name(w, name, &t->name) || !walk_chain(w, coro, t))
		return false;
	if (!w->awaited_by_kept) {
		links[index].group = group_exited(w, reg->taskgroup_type, addr);
		return true;
	}
	/* 3.14 keeps the tasks awaiting a pure-Python future in its
	 * __asyncio_awaited_by set (None until one does). */
	links[index].fut_waiter = 0;
	uint64_t by = pf_instance_attr(&w->r, addr,
				       "_Future__asyncio_awaited_by"),
		 type;
	return by == 0 ||
	       !read_u64(w, by + (uint64_t)w->l->object.ob_type, &type) ||
	       !builtin_type(w, type, "set") || read_set_keys(w, by, t);
}

static bool add_awaiter(struct pf_task *t, uint64_t awaiter)
{
	uint64_t *ids = realloc(t->awaiter_ids,
				(t->nawaiter_ids + 1) * sizeof *ids);
	if (ids == NULL)
		return false;
	t->awaiter_ids = ids;
	ids[t->nawaiter_ids++] = awaiter;
	return true;
}

/* A task leaving a TaskGroup awaits each task the group still holds
 * (its _tasks set). */
static bool group_awaiters(struct tw *w, const struct id_index *ids,
			   size_t parent)
{
	struct pf_task_list *list = w->list;
	uint64_t set = pf_instance_attr(&w->r, w->links[parent].group,
					"_tasks"),
		 *keys;
	size_t n;
	if (set == 0)
		return true;
	if (!set_keys(w, set, &keys, &n))
		return false;
	bool ok = true;
	for (size_t c = 0; ok && c < n; c++) {
		size_t k = find_task(ids, list->count, keys[c]);
		if (k != SIZE_MAX)
			ok = add_awaiter(&list->tasks[k],
					 list->tasks[parent].id);
	}
	free(keys);
	return ok;
}

/* awaited_by from the other end: a task awaits the task in its
 * task_fut_waiter, or every child of the gather (a _GatheringFuture's
 * _children) there, or every task of the TaskGroup it is leaving. */
static bool registry_awaiters(struct tw *w, const struct id_index *ids)
{
	const struct pf_layout *l = w->l;
	struct pf_task_list *list = w->list;
	for (size_t i = 0; i < list->count; i++) {
		uint64_t waiter = w->links[i].fut_waiter, children, items;
		if (w->links[i].group != 0 && !group_awaiters(w, ids, i))
			return false;
		int64_t n;
		if (waiter == 0)
			continue;
		size_t k = find_task(ids, list->count, waiter);
		if (k != SIZE_MAX) {
			if (!add_awaiter(&list->tasks[k], list->tasks[i].id))
				return false;
			continue;
		}
		children = pf_instance_attr(&w->r, waiter, "_children");
		if (children == 0 ||
		    !pf_mem_read(w->mem, children + (uint64_t)l->list.ob_size,
				 &n, sizeof n) ||
		    n <= 0 || n > MAX_CHILDREN ||
		    !read_u64(w, children + (uint64_t)l->list.ob_item, &items))
			continue;
		struct pf_array item;
		pf_array_init(&item, w->mem, items, 8, n);
		for (int64_t c = 0; c < n; c++) {
			const uint8_t *p = pf_array_at(&item, c);
			if (p == NULL)
				break;
			k = find_task(ids, list->count, pf_field_u64(p, 0));
			if (k != SIZE_MAX &&
			    !add_awaiter(&list->tasks[k], list->tasks[i].id))
				return false;
		}
	}
	return true;
}

/* A task whose chain ends at a future that is a task of the list awaits
 * it, whether or not that task's awaited_by says so (yet). */
static bool add_awaited_tasks(struct pf_task_list *list,
			      const struct id_index *ids)
{
	for (size_t i = 0; i < list->count; i++) {
		struct pf_task *t = &list->tasks[i];
		size_t p = t->awaits_object
				   ? find_task(ids, list->count,
					       t->awaits_object)
				   : SIZE_MAX;
		if (p == SIZE_MAX)
			continue;
		struct pf_task *target = &list->tasks[p];
		size_t k = 0;
		while (k < target->nawaiter_ids &&
		       target->awaiter_ids[k] != t->id)
			k++;
		if (k == target->nawaiter_ids && !add_awaiter(target, t->id))
			return false;
	}
	return true;
}

/* 3.11-3.13: the tasks of asyncio.tasks' registry, each loop with the
 * task current_task() gives for it. */
static bool walk_registry(struct tw *w, uint64_t interp)
{
	struct pf_task_registry reg;
	struct pf_task_list *list = w->list;
	bool ok = pf_task_registry_read(&w->r, interp, &reg, list->note,
					sizeof list->note);
	for (size_t i = 0; ok && i < reg.ntasks; i++) {
		if (list->count >= PF_MAX_TASKS) {
			list->truncated = true;
			break;
		}
		ok = registry_task(w, &reg, reg.tasks[i]);
	}
	for (size_t i = 0; ok && i < reg.ncurrent; i++) {
		struct pf_task_loop *loop;
		ok = registry_loop(w, reg.current[i][0], &loop);
		if (ok && loop != NULL)
			loop->running_task = reg.current[i][1];
	}
	pf_task_registry_free(&reg);
	return ok;
}

/* Keeps the awaiters that are tasks of the list, and gives each of them
 * the task it awaits. */
static bool link_awaiters(struct pf_task_list *list,
			  const struct id_index *ids)
{
	size_t n = list->count;
	for (size_t i = 0; i < n; i++) {
		struct pf_task *t = &list->tasks[i];
		if (t->nawaiter_ids == 0)
			continue;
		t->awaited_by = malloc(t->nawaiter_ids * sizeof *t->awaited_by);
		if (t->awaited_by == NULL)
			return false;
		for (size_t k = 0; k < t->nawaiter_ids; k++) {
			size_t p = find_task(ids, n, t->awaiter_ids[k]);
			if (p == SIZE_MAX)
				continue;
			t->awaited_by[t->nawaited_by++] = p;
			list->tasks[p].nawaiting++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct pf_task *t = &list->tasks[i];
		if (t->nawaiting == 0)
			continue;
		t->awaiting = malloc(t->nawaiting * sizeof *t->awaiting);
		if (t->awaiting == NULL)
			return false;
		t->nawaiting = 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct pf_task *t = &list->tasks[i];
		for (size_t k = 0; k < t->nawaited_by; k++) {
			struct pf_task *p = &list->tasks[t->awaited_by[k]];
			p->awaiting[p->nawaiting++] = i;
		}
	}
	return true;
}

/* Depth-first over the awaits edges: an edge back to a task on the path
 * closes a cycle of tasks awaiting each other, which can never end. */
static bool find_cycles(struct pf_task_list *list)
{
	size_t n = list->count;
	uint8_t *color = calloc(n ? n : 1, 1); /* 0 new, 1 on path, 2 done */
	size_t *path = malloc((n ? n : 1) * sizeof *path);
	size_t *edge = malloc((n ? n : 1) * sizeof *edge);
	size_t *where = malloc((n ? n : 1) * sizeof *where);
	bool ok = color && path && edge && where;
	for (size_t root = 0; ok && root < n; root++) {
		if (color[root])
			continue;
		size_t depth = 0;
		path[depth] = root;
		edge[depth] = 0;
		where[root] = depth++;
		color[root] = 1;
		while (depth > 0) {
			size_t v = path[depth - 1];
			struct pf_task *t = &list->tasks[v];
			if (edge[depth - 1] == t->nawaiting) {
				color[v] = 2;
				depth--;
				continue;
			}
			size_t u = t->awaiting[edge[depth - 1]++];
			if (color[u] == 0) {
				color[u] = 1;
				path[depth] = u;
				edge[depth] = 0;
				where[u] = depth++;
			} else if (color[u] == 1 && list->tasks[u].cycle == 0) {
				unsigned c = ++list->ncycles;
				for (size_t d = where[u]; d < depth; d++)
					list->tasks[path[d]].cycle = c;
			}
		}
	}
	free(color);
	free(path);
	free(edge);
	free(where);
	return ok;
}

static bool mark_running(struct pf_task_list *list, const struct id_index *ids)
{
	for (size_t i = 0; i < list->nloops; i++) {
		size_t t = find_task(ids, list->count, list->loops[i].running_task);
		if (t == SIZE_MAX)
			continue;
		list->tasks[t].state = PF_TASK_RUNNING;
		list->tasks[t].thread_id = list->loops[i].thread_id;
	}
	return true;
}

static bool analyse(struct tw *w)
{
	struct pf_task_list *list = w->list;
	size_t n = list->count;
	struct id_index *ids = malloc((n ? n : 1) * sizeof *ids);
	if (ids == NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		ids[i] = (struct id_index){list->tasks[i].id, i};
	qsort(ids, n, sizeof *ids, compare_ids);
	bool ok = mark_running(list, ids) &&
		  (w->links == NULL || registry_awaiters(w, ids)) &&
		  add_awaited_tasks(list, ids) && link_awaiters(list, ids) &&
		  find_cycles(list);
	free(ids);
	return ok;
}

bool pf_walk_tasks(const struct pf_task_walk_input *in,
		   struct pf_snapshot *snap)
{
	const struct pf_asyncio_layout *a = in->asyncio;
	const struct pf_layout *l = in->layout;
	const bool registry = a->model == PF_ASYNCIO_REGISTRY;
	/* 3.14+'s _Py_DebugOffsets describe generators, 3.11-3.13's DWARF
	 * does. */
	const bool debug_offsets = l->coro.gi_iframe != PF_NO_OFFSET;
	struct tw w = {
		.in = in,
		.l = l,
		.a = a,
		.mem = in->mem,
		.list = &snap->tasks,
		.gi_iframe = debug_offsets ? l->coro.gi_iframe
					   : l->gen.gi_iframe,
		.gi_frame_state = debug_offsets ? l->coro.gi_frame_state
						: l->gen.gi_frame_state,
		.tp_name = debug_offsets ? l->coro.tp_name
					 : l->type_name.tp_name,
		.awaited_by_kept = l->major == 3 && l->minor >= 14,
		.r = {in->mem, l},
	};
	pf_task_list_free(&snap->tasks);
	snap->tasks.collected = true;
	const char *missing;
	if (!pf_task_layout_complete(l, a->model, &missing)) {
		note(&w, "asyncio tasks not shown: the offsets of this build "
			 "lack %s",
		     missing);
		return true;
	}
	w.frames = pf_frame_reader_new(in->mem, l, snap);
	/* + 1: a registry without _asyncio has no TaskObj (size 0). */
	w.task_buf = malloc(registry ? (size_t)a->ctask.size + 1
				     : (size_t)a->task.size);
	w.chain = malloc(MAX_CHAIN * sizeof *w.chain);
	w.coros = malloc(MAX_CHAIN * sizeof *w.coros);
	bool ok = w.frames && w.task_buf && w.chain && w.coros &&
		  (registry ? walk_registry(&w, snap->interp)
			    : walk_lists(&w, snap->interp)) &&
		  analyse(&w);
	pf_frame_reader_free(w.frames);
	free(w.task_buf);
	free(w.chain);
	free(w.coros);
	free(w.links);
	return ok;
}
