#include "format/dump_json.h"

#include <stdlib.h>
#include <string.h>

#include "format/json_lib.h"
#include "format/status_format.h"
#include "format/syscall_names.h"

/* A growing byte buffer for the UTF-8 conversions. */
struct sbuf {
	char *data;
	size_t len, cap;
	bool failed;
};

static void sb_put(struct sbuf *b, const void *bytes, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (p == NULL) {
			b->failed = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, bytes, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static bool sb_finish(struct sbuf *b, char **buf, size_t *len)
{
	sb_put(b, "", 0);
	if (b->failed) {
		free(b->data);
		return false;
	}
	*buf = b->data;
	*len = b->len;
	return true;
}

/* A backslash, kind, then value in digits hex digits: \xNN, \udcNN. */
static void put_escape(struct sbuf *b, char kind, int digits, unsigned value)
{
	char esc[12];
	int n = snprintf(esc, sizeof esc, "\\%c%0*x", kind, digits, value);
	sb_put(b, esc, (size_t)n);
}

static void put_code_point(struct sbuf *b, uint32_t cp)
{
	unsigned char u[4];
	size_t n;
	if (cp >= 0xd800 && cp <= 0xdfff) {
		put_escape(b, 'u', 4, cp);
		return;
	}
	if (cp > 0x10ffff) { /* not a code point: a str never holds one */
		put_escape(b, 'U', 8, cp);
		return;
	}
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	sb_put(b, u, n);
}

bool pf_json_text_utf8(const struct pf_text *text, char **buf, size_t *len)
{
	struct sbuf b = {0};
	for (uint32_t i = 0; i < text->length; i++)
		put_code_point(&b, text->chars[i]);
	if (text->truncated)
		sb_put(&b, "...", 3);
	return sb_finish(&b, buf, len);
}

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), 0 if there is none. */
static size_t utf8_sequence(const unsigned char *s)
{
	if (s[0] < 0x80)
		return 1;
	size_t n;
	uint32_t cp, min;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, cp = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, cp = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, cp = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool pf_json_bytes_utf8(const char *s, char **buf, size_t *len)
{
	struct sbuf b = {0};
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n = utf8_sequence(p);
		if (n == 0) {
			put_escape(&b, 'x', 2, *p);
			p++;
		} else {
			sb_put(&b, p, n);
			p += n;
		}
	}
	return sb_finish(&b, buf, len);
}

/* Builds the document; json-c owns what is added to it.  Any failed
 * allocation clears ok, and nothing is written then. */
struct builder {
	bool ok;
};

static void add(struct builder *jb, json_object *obj, const char *key,
		json_object *value, bool null_ok)
{
	if (value == NULL && !null_ok)
		jb->ok = false;
	if (pf_json.json_object_object_add(obj, key, value) != 0)
		jb->ok = false;
}

static void append(struct builder *jb, json_object *array, json_object *v)
{
	if (v == NULL || pf_json.json_object_array_add(array, v) != 0) {
		pf_json.json_object_put(v);
		jb->ok = false;
	}
}

static json_object *new_object(struct builder *jb)
{
	json_object *o = pf_json.json_object_new_object();
	if (o == NULL)
		jb->ok = false;
	return o;
}

static json_object *new_array(struct builder *jb)
{
	json_object *a = pf_json.json_object_new_array();
	if (a == NULL)
		jb->ok = false;
	return a;
}

static void add_string(struct builder *jb, json_object *obj, const char *key,
		       const char *value)
{
	add(jb, obj, key, pf_json.json_object_new_string(value), false);
}

/* A C string of the target or the system; null for NULL. */
static void add_bytes(struct builder *jb, json_object *obj, const char *key,
		      const char *value)
{
	char *utf8;
	size_t len;
	if (value == NULL) {
		add(jb, obj, key, NULL, true);
	} else if (pf_json_bytes_utf8(value, &utf8, &len)) {
		add(jb, obj, key,
		    pf_json.json_object_new_string_len(utf8, (int)len), false);
		free(utf8);
	} else {
		jb->ok = false;
	}
}

/* A str of the target; NULL (JSON null) when it was not a str, which
 * faulthandler prints as ???. */
static json_object *text_value(struct builder *jb, const struct pf_text *text)
{
	char *utf8;
	size_t len;
	if (!text->present)
		return NULL;
	if (!pf_json_text_utf8(text, &utf8, &len)) {
		jb->ok = false;
		return NULL;
	}
	json_object *v = pf_json.json_object_new_string_len(utf8, (int)len);
	free(utf8);
	if (v == NULL)
		jb->ok = false;
	return v;
}

static void add_text(struct builder *jb, json_object *obj, const char *key,
		     const struct pf_text *text)
{
	add(jb, obj, key, text_value(jb, text), true);
}

static void add_int(struct builder *jb, json_object *obj, const char *key,
		    int64_t value)
{
	add(jb, obj, key, pf_json.json_object_new_int64(value), false);
}

static void add_bool(struct builder *jb, json_object *obj, const char *key,
		     bool value)
{
	add(jb, obj, key, pf_json.json_object_new_boolean(value), false);
}

/* Addresses are "0x..." strings: JSON numbers lose precision past 2^53
 * in many readers. */
static void add_address(struct builder *jb, json_object *obj,
			const char *key, uint64_t addr)
{
	char hex[24];
	snprintf(hex, sizeof hex, "0x%llx", (unsigned long long)addr);
	add_string(jb, obj, key, hex);
}

static json_object *process_object(struct builder *jb,
				   const struct pf_json_process *p)
{
	json_object *o = new_object(jb);
	char version[32];
	if (p->micro_known)
		snprintf(version, sizeof version, "%u.%u.%u", p->major,
			 p->minor, p->micro);
	else
		snprintf(version, sizeof version, "%u.%u", p->major, p->minor);
	add_int(jb, o, "pid", p->pid);
	add_bytes(jb, o, "executable", p->executable);
	add_bytes(jb, o, "interpreter", p->interpreter);
	add_string(jb, o, "python_version", version);
	add_bool(jb, o, "debug_build", p->debug_build);
	add_string(jb, o, "offsets_source", p->offsets_source);
	add_bytes(jb, o, "offsets_detail", p->offsets_detail);
	return o;
}

static json_object *signal_object(struct builder *jb,
				  const struct pf_dump_reason *r)
{
	json_object *o = new_object(jb);
	char name[32];
	add_int(jb, o, "number", r->signo);
	if (pf_signal_name(r->signo, name, sizeof name))
		add_string(jb, o, "name", name);
	else
		add(jb, o, "name", NULL, true);
	if (r->has_siginfo) {
		const char *code = pf_si_code_name(r->signo, r->code);
		add_int(jb, o, "code", r->code);
		add(jb, o, "code_name",
		    code ? pf_json.json_object_new_string(code) : NULL,
		    code == NULL);
	} else {
		add(jb, o, "code", NULL, true);
		add(jb, o, "code_name", NULL, true);
	}
	if (r->has_address)
		add_address(jb, o, "address", r->address);
	else
		add(jb, o, "address", NULL, true);
	if (r->has_sender)
		add_int(jb, o, "sender_pid", r->sender_pid);
	else
		add(jb, o, "sender_pid", NULL, true);
	return o;
}

static json_object *reason_object(struct builder *jb,
				  const struct pf_dump_reason *r)
{
	json_object *o = new_object(jb);
	add_string(jb, o, "kind", pf_reason_kind_name(r->kind));
	if (r->kind == PF_REASON_FATAL_SIGNAL || r->kind == PF_REASON_SIGNAL ||
	    (r->kind == PF_REASON_CORE && r->signo != 0))
		add(jb, o, "signal", signal_object(jb, r), false);
	else
		add(jb, o, "signal", NULL, true);
	if (r->kind == PF_REASON_TIMEOUT)
		add(jb, o, "timeout_seconds",
		    pf_json.json_object_new_double(r->timeout_seconds), false);
	else
		add(jb, o, "timeout_seconds", NULL, true);
	return o;
}

static json_object *frame_object(struct builder *jb, const struct pf_frame *f)
{
	json_object *o = new_object(jb);
	add_text(jb, o, "file", f->filename);
	add_text(jb, o, "name", f->name);
	if (f->lineno >= 0)
		add_int(jb, o, "line", f->lineno);
	else
		add(jb, o, "line", NULL, true);
	json_object *locals = new_array(jb);
	for (uint32_t i = 0; i < f->nlocals; i++) {
		const struct pf_local *v = &f->locals[i];
		json_object *lo = new_object(jb);
		add_text(jb, lo, "name", &v->name);
		add_string(jb, lo, "kind", v->kind);
		add_bytes(jb, lo, "type", v->type[0] ? v->type : NULL);
		add_bytes(jb, lo, "repr", v->repr);
		append(jb, locals, lo);
	}
	add(jb, o, "locals", locals, false);
	add_bool(jb, o, "locals_truncated", f->locals_truncated);
	return o;
}

static json_object *native_frame_object(struct builder *jb,
					const struct pf_native_frame *f)
{
	json_object *o = new_object(jb);
	add_address(jb, o, "address", f->pc);
	add_bytes(jb, o, "object", f->object);
	add_bytes(jb, o, "symbol", f->symbol);
	if (f->symbol)
		add_int(jb, o, "offset", (int64_t)f->symbol_offset);
	else
		add(jb, o, "offset", NULL, true);
	add_bytes(jb, o, "file", f->source_file);
	if (f->source_file)
		add_int(jb, o, "line", f->source_line);
	else
		add(jb, o, "line", NULL, true);
	return o;
}

static const char *state_name(enum pf_thread_state state)
{
	switch (state) {
	case PF_STATE_RUNNING:
		return "running";
	case PF_STATE_SYSCALL:
		return "syscall";
	case PF_STATE_GIL_WAIT:
		return "gil_wait";
	case PF_STATE_UNKNOWN:
		break;
	}
	return "unknown";
}

static json_object *syscall_object(struct builder *jb,
				   const struct pf_thread_status *s)
{
	if (s->state != PF_STATE_SYSCALL && s->state != PF_STATE_GIL_WAIT)
		return NULL;
	json_object *o = new_object(jb), *args = new_array(jb);
	const char *name = pf_syscall_name(s->syscall_nr);
	add_int(jb, o, "number", s->syscall_nr);
	add(jb, o, "name", name ? pf_json.json_object_new_string(name) : NULL,
	    name == NULL);
	for (size_t i = 0; i < 6; i++) {
		char hex[24];
		snprintf(hex, sizeof hex, "0x%llx",
			 (unsigned long long)s->syscall_args[i]);
		append(jb, args, pf_json.json_object_new_string(hex));
	}
	add(jb, o, "args", args, false);
	return o;
}

static json_object *thread_object(struct builder *jb,
				  const struct pf_thread_dump *t,
				  int64_t interp_id)
{
	const struct pf_thread_status *s = &t->status;
	json_object *o = new_object(jb);
	add(jb, o, "thread_id", pf_json.json_object_new_uint64(t->thread_id),
	    false);
	if (interp_id >= 0)
		add_int(jb, o, "interpreter_id", interp_id);
	else
		add(jb, o, "interpreter_id", NULL, true);
	if (t->tid > 0)
		add_int(jb, o, "tid", t->tid);
	else
		add(jb, o, "tid", NULL, true);
	if (s->collected && s->name[0] != '\0')
		add_bytes(jb, o, "name", s->name);
	else
		add(jb, o, "name", NULL, true);
	if (t->python_name.present)
		add_text(jb, o, "python_name", &t->python_name);
	else
		add(jb, o, "python_name", NULL, true);
	add_bool(jb, o, "current", t->is_current);
	if (s->collected)
		add_bool(jb, o, "holds_gil", s->holds_gil);
	else
		add(jb, o, "holds_gil", NULL, true);
	add_string(jb, o, "state", state_name(s->state));
	json_object *sc = syscall_object(jb, s);
	add(jb, o, "syscall", sc, sc == NULL);
	add_bool(jb, o, "gc_collecting", t->gc_collecting);

	json_object *frames = new_array(jb);
	for (size_t i = 0; i < t->nframes; i++)
		append(jb, frames, frame_object(jb, &t->frames[i]));
	add(jb, o, "frames", frames, false);
	add_bool(jb, o, "frames_truncated", t->frames_truncated);
	json_object *native = new_array(jb);
	for (size_t i = 0; i < t->nnative; i++)
		append(jb, native, native_frame_object(jb, &t->native[i]));
	add(jb, o, "native_frames", native, false);
	return o;
}

static json_object *task_ids(struct builder *jb,
			     const struct pf_task_list *list,
			     const size_t *tasks, size_t n)
{
	json_object *a = new_array(jb);
	for (size_t i = 0; i < n; i++) {
		char hex[24];
		snprintf(hex, sizeof hex, "0x%llx",
			 (unsigned long long)list->tasks[tasks[i]].id);
		append(jb, a, pf_json.json_object_new_string(hex));
	}
	return a;
}

static json_object *task_object(struct builder *jb,
				const struct pf_task_list *list,
				const struct pf_task *t)
{
	json_object *o = new_object(jb);
	add_address(jb, o, "id", t->id);
	add_text(jb, o, "name", &t->name);
	add_string(jb, o, "state",
		   t->state == PF_TASK_RUNNING ? "running" : "pending");
	if (t->thread_id != 0)
		add(jb, o, "thread_id",
		    pf_json.json_object_new_uint64(t->thread_id), false);
	else
		add(jb, o, "thread_id", NULL, true);
	if (t->loop != 0)
		add_address(jb, o, "loop", t->loop);
	else
		add(jb, o, "loop", NULL, true);
	json_object *frames = new_array(jb);
	for (size_t i = 0; i < t->nframes; i++)
		append(jb, frames, frame_object(jb, &t->frames[i]));
	add(jb, o, "frames", frames, false);
	add_bool(jb, o, "frames_truncated", t->frames_truncated);
	if (t->awaits_type[0] != '\0') {
		json_object *w = new_object(jb);
		add_bytes(jb, w, "type", t->awaits_type);
		add_address(jb, w, "address", t->awaits_object);
		add(jb, o, "awaits_object", w, false);
	} else {
		add(jb, o, "awaits_object", NULL, true);
	}
	add(jb, o, "awaiting", task_ids(jb, list, t->awaiting, t->nawaiting),
	    false);
	add(jb, o, "awaited_by",
	    task_ids(jb, list, t->awaited_by, t->nawaited_by), false);
	if (t->cycle != 0)
		add_int(jb, o, "deadlock_cycle", t->cycle);
	else
		add(jb, o, "deadlock_cycle", NULL, true);
	return o;
}

/* The members --tasks adds. */
static void add_tasks(struct builder *jb, json_object *doc,
		      const struct pf_task_list *list)
{
	json_object *tasks = new_array(jb), *loops = new_array(jb);
	for (size_t i = 0; i < list->count; i++)
		append(jb, tasks, task_object(jb, list, &list->tasks[i]));
	for (size_t i = 0; i < list->nloops; i++) {
		json_object *l = new_object(jb);
		add(jb, l, "thread_id",
		    pf_json.json_object_new_uint64(list->loops[i].thread_id),
		    false);
		add_address(jb, l, "loop", list->loops[i].loop);
		append(jb, loops, l);
	}
	add(jb, doc, "tasks", tasks, false);
	add_bool(jb, doc, "tasks_truncated", list->truncated);
	add(jb, doc, "event_loops", loops, false);
	if (list->note[0] != '\0')
		add_bytes(jb, doc, "tasks_note", list->note);
	else
		add(jb, doc, "tasks_note", NULL, true);
}

/* An interpreter's own facts; its threads are in "threads". */
static json_object *interpreter_object(struct builder *jb, bool main,
				       const struct pf_interp_dump *d)
{
	json_object *o = new_object(jb);
	if (d->id >= 0)
		add_int(jb, o, "id", d->id);
	else
		add(jb, o, "id", NULL, true);
	add_address(jb, o, "address", d->addr);
	add_bool(jb, o, "main", main);
	add_bool(jb, o, "threads_truncated", d->threads_truncated);
	add_bool(jb, o, "unreadable", d->unreadable);
	return o;
}

static json_object *document(struct builder *jb, const char *tool,
			     const struct pf_json_process *process,
			     const struct pf_dump_reason *reason,
			     const struct pf_snapshot *snap,
			     bool current_thread_only)
{
	json_object *doc = new_object(jb);
	if (doc == NULL)
		return NULL;
	add_int(jb, doc, "schema_version", PF_JSON_SCHEMA_VERSION);
	add_string(jb, doc, "tool", tool);
	add_string(jb, doc, "tool_version", PACKAGE_VERSION);
	add(jb, doc, "process", process_object(jb, process), false);
	add(jb, doc, "reason", reason_object(jb, reason), false);
	json_object *threads = new_array(jb);
	const struct pf_thread_dump *current = pf_snapshot_current_python(snap);
	for (size_t i = 0; !current_thread_only && i < snap->nthreads; i++)
		append(jb, threads, thread_object(jb, &snap->threads[i],
						  snap->interp_id));
	if (current_thread_only && current)
		append(jb, threads, thread_object(jb, current, snap->interp_id));
	json_object *interps = new_array(jb);
	const struct pf_interp_dump main = {
		.id = snap->interp_id,
		.addr = snap->interp,
		.threads_truncated = snap->threads_truncated,
	};
	append(jb, interps, interpreter_object(jb, true, &main));
	for (size_t k = 0; !current_thread_only && k < snap->ninterps; k++) {
		const struct pf_interp_dump *d = &snap->interps[k];
		for (size_t i = 0; i < d->nthreads; i++)
			append(jb, threads,
			       thread_object(jb, &d->threads[i], d->id));
		append(jb, interps, interpreter_object(jb, false, d));
	}
	add_bool(jb, doc, "current_thread_only", current_thread_only);
	add(jb, doc, "threads", threads, false);
	add_bool(jb, doc, "threads_truncated", snap->threads_truncated);
	add(jb, doc, "interpreters", interps, false);
	add_bool(jb, doc, "interpreters_truncated", snap->interps_truncated);
	json_object *modules = new_array(jb);
	for (size_t i = 0; i < snap->modules.count; i++) {
		json_object *name = text_value(jb, &snap->modules.names[i]);
		if (modules &&
		    pf_json.json_object_array_add(modules, name) != 0) {
			pf_json.json_object_put(name);
			jb->ok = false;
		}
	}
	add(jb, doc, "extension_modules", modules, false);
	if (snap->tasks.collected)
		add_tasks(jb, doc, &snap->tasks);
	return doc;
}

bool pf_write_json(FILE *out, const char *tool,
		   const struct pf_json_process *process,
		   const struct pf_dump_reason *reason,
		   const struct pf_snapshot *snap, bool current_thread_only)
{
	/* The commands load it before they hold a target. */
	char why[256];
	if (!pf_json_load(why, sizeof why))
		return false;
	struct builder jb = {.ok = true};
	json_object *doc = document(&jb, tool, process, reason, snap,
				    current_thread_only);
	bool written = false;
	if (doc != NULL && jb.ok) {
		const char *text = pf_json.json_object_to_json_string_ext(
			doc, JSON_C_TO_STRING_PLAIN |
				     JSON_C_TO_STRING_NOSLASHESCAPE);
		written = text != NULL && fputs(text, out) >= 0 &&
			  fputc('\n', out) != EOF;
	}
	pf_json.json_object_put(doc);
	return written;
}
