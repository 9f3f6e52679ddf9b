#include "format/fh_format.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A line built in memory and written with one call: a dump of thousands
 * of frames costs thousands of stdio calls otherwise. */
struct line {
	FILE *out;
	size_t used;
	unsigned flushes;   /* buf[i..used) is what was added since i, unless
	                       it was written out meanwhile */
	char buf[4096];
};

static void line_flush(struct line *l)
{
	fwrite(l->buf, 1, l->used, l->out);
	l->used = 0;
	l->flushes++;
}

/* Room for n more bytes, n at most 16. */
static char *line_room(struct line *l, size_t n)
{
	if (l->used + n > sizeof l->buf)
		line_flush(l);
	return l->buf + l->used;
}

static void line_write(struct line *l, const char *s, size_t n)
{
	if (l->used + n > sizeof l->buf)
		line_flush(l);
	if (n > sizeof l->buf) {
		fwrite(s, 1, n, l->out);
		return;
	}
	memcpy(l->buf + l->used, s, n);
	l->used += n;
}

static void line_puts(struct line *l, const char *s)
{
	line_write(l, s, strlen(s));
}

/* _Py_DumpASCII's escaping; quoted (--locals' str values) also escapes
 * '"' and '\'. */
static bool plain_char(uint32_t ch, bool quoted)
{
	return ch >= ' ' && ch <= 126 &&
	       !(quoted && (ch == '"' || ch == '\\'));
}

static void line_text(struct line *l, const struct pf_text *text, bool quoted)
{
	/* An empty text may have no chars at all: NULL + 0 is undefined. */
	const uint32_t *ch = text->chars;
	const uint32_t *end = text->length ? ch + text->length : ch;
	while (ch < end) {
		char *at = line_room(l, 16);
		/* A run of plain characters, as far as the room goes, with
		 * one check each. */
		char *room_end = l->buf + sizeof l->buf;
		while (ch < end && at < room_end && plain_char(*ch, quoted))
			*at++ = (char)*ch++;
		l->used = (size_t)(at - l->buf);
		if (ch == end || plain_char(*ch, quoted))
			continue;
		at = line_room(l, 16);
		l->used += (size_t)snprintf(at, 16,
					    *ch <= 0xff     ? "\\x%02x"
					    : *ch <= 0xffff ? "\\u%04x"
							    : "\\U%08x",
					    (unsigned)*ch);
		ch++;
	}
	if (text->truncated)
		line_puts(l, "...");
}

/* A line number, as "%d" prints one that is not negative. */
static void line_number(struct line *l, int n)
{
	char digits[12];
	size_t k = 0;
	do
		digits[k++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	while (k > 0)
		*line_room(l, 1) = digits[--k], l->used++;
}

void pf_format_text(FILE *out, const struct pf_text *text)
{
	struct line l = {.out = out};
	line_text(&l, text, false);
	line_flush(&l);
}

void pf_format_quoted(FILE *out, const struct pf_text *text)
{
	struct line l = {.out = out};
	line_puts(&l, "\"");
	line_text(&l, text, true);
	line_puts(&l, "\"");
	line_flush(&l);
}

/* --locals: "    NAME = VALUE" under the frame line. */
static void format_locals(FILE *out, const struct pf_frame *f)
{
	for (uint32_t i = 0; i < f->nlocals; i++) {
		struct line l = {.out = out};
		line_puts(&l, "    ");
		line_text(&l, &f->locals[i].name, false);
		line_puts(&l, " = ");
		line_puts(&l, f->locals[i].repr);
		line_puts(&l, "\n");
		line_flush(&l);
	}
	if (f->locals_truncated)
		fputs("    <more locals not shown>\n", out);
}

/* "  File ..., line N in NAME\n" into l. */
static void frame_line(struct line *l, const struct pf_frame *f)
{
	line_puts(l, "  File ");
	if (f->filename->present) {
		line_puts(l, "\"");
		line_text(l, f->filename, false);
		line_puts(l, "\"");
	} else {
		line_puts(l, "???");
	}
	line_puts(l, ", line ");
	if (f->lineno >= 0)
		line_number(l, f->lineno);
	else
		line_puts(l, "???");
	line_puts(l, " in ");
	if (f->name->present)
		line_text(l, f->name, false);
	else
		line_puts(l, "???");
	line_puts(l, "\n");
}

void pf_format_frame(FILE *out, const struct pf_frame *f)
{
	struct line l = {.out = out};
	frame_line(&l, f);
	line_flush(&l);
}

/* The frame lines of one dump, by what they show: the frames of a
 * recursion, and the threads of a pool, repeat lines, which are copied
 * then rather than formatted again.  A frame's filename and name are its
 * code object's, so the same pointers show the same text. */
#define MEMO_SLOTS 64
#define MEMO_TEXT 232
struct memo_slot {
	const struct pf_text *filename, *name;
	int lineno;
	size_t length;   /* 0: an empty slot */
	char text[MEMO_TEXT];
};

struct frame_memo {
	struct memo_slot slots[MEMO_SLOTS];
};

static void memo_frame_line(struct line *l, const struct pf_frame *f,
			    struct frame_memo *memo)
{
	uintptr_t key = (uintptr_t)f->filename ^ ((uintptr_t)f->name >> 4) ^
			(uintptr_t)f->lineno * 0x9e3779b1u;
	struct memo_slot *slot = &memo->slots[(key ^ key >> 12) % MEMO_SLOTS];
	if (slot->length != 0 && slot->filename == f->filename &&
	    slot->name == f->name && slot->lineno == f->lineno) {
		line_write(l, slot->text, slot->length);
		return;
	}
	size_t start = l->used;
	unsigned flushes = l->flushes;
	frame_line(l, f);
	size_t length = l->used - start;
	if (l->flushes != flushes || length > MEMO_TEXT)
		return;
	*slot = (struct memo_slot){.filename = f->filename,
				   .name = f->name,
				   .lineno = f->lineno,
				   .length = length};
	memcpy(slot->text, l->buf + start, length);
}

static void format_frames(FILE *out, const struct pf_thread_dump *t,
			  const struct pf_style *style,
			  struct frame_memo *memo)
{
	if (t->nframes == 0 && !t->invalid_frame) {
		if (style->no_frame_line)
			fputs(style->no_frame_indented ? "  <no Python frame>\n"
						       : "<no Python frame>\n",
			      out);
		return;
	}
	/* A write per buffer-full of frames, not per frame. */
	struct line l = {.out = out};
	for (size_t i = 0; i < t->nframes; i++) {
		if (memo && !style->locals)
			memo_frame_line(&l, &t->frames[i], memo);
		else
			frame_line(&l, &t->frames[i]);
		if (style->locals) {
			line_flush(&l);
			format_locals(out, &t->frames[i]);
		}
	}
	line_flush(&l);
	if (t->invalid_frame)
		fputs("  <invalid frame>\n", out);
	if (t->frames_truncated && style->frame_limit_marker)
		fputs("  ...\n", out);
}

static void format_native_frame(FILE *out, const struct pf_native_frame *f)
{
	unsigned long long pc = f->pc;
	if (f->object == NULL) {
		fprintf(out, "  Binary file '<unknown>' [0x%llx]", pc);
		return;
	}
	fprintf(out, "  Binary file \"%s\"", f->object);
	if (f->symbol)
		fprintf(out, ", at %s+0x%llx", f->symbol,
			(unsigned long long)f->symbol_offset);
	else if (f->load_bias != 0)
		fprintf(out, ", at +0x%llx",
			(unsigned long long)(f->pc - f->load_bias));
	fprintf(out, " [0x%llx]", pc);
}

static void format_native_frames(FILE *out, const struct pf_thread_dump *t)
{
	if (t->nnative == 0) {
		fputs("  <system returned no stack trace>\n", out);
		return;
	}
	for (size_t i = 0; i < t->nnative; i++) {
		format_native_frame(out, &t->native[i]);
		fputc('\n', out);
	}
	if (t->native_truncated)
		fputs("  <truncated rest of calls>\n", out);
}

void pf_format_native_stack(FILE *out, const struct pf_thread_dump *thread)
{
	if (thread->is_current)
		fputs("\nCurrent thread's C stack trace (most recent call "
		      "first):\n",
		      out);
	else
		fprintf(out,
			"\nC stack trace of thread 0x%016llx (most recent call "
			"first):\n",
			(unsigned long long)thread->thread_id);
	format_native_frames(out, thread);
}

/* Why the stacks were printed one after the other. */
static void format_merge_failure(FILE *out, const struct pf_merged *m)
{
	switch (m->result) {
	case PF_MERGED:
	case PF_MERGE_NO_C_STACK:
		return;
	case PF_MERGE_TRUNCATED:
		fputs("  <C stack not merged: a stack is deeper than its "
		      "limit>\n",
		      out);
		return;
	case PF_MERGE_UNKNOWN_ENTRIES:
		fputs("  <C stack not merged: where evaluation-loop calls "
		      "start is unknown>\n",
		      out);
		return;
	case PF_MERGE_COUNTS_DIFFER:
		fprintf(out,
			"  <C stack not merged: %zu evaluation-loop calls in C, "
			"%zu in Python>\n",
			m->eval_calls, m->python_calls);
		return;
	}
}

/* The merged stack, each C frame followed by " (FILE:LINE)" when DWARF
 * gives its line; or the Python frames, the reason they could not be
 * merged, and the C frames. */
static void format_merged_frames(FILE *out, const struct pf_thread_dump *t,
				 const struct pf_merged *m,
				 const struct pf_style *style)
{
	if (m->result != PF_MERGED) {
		format_frames(out, t, style, NULL);
		format_merge_failure(out, m);
		format_native_frames(out, t);
		return;
	}
	for (size_t i = 0; i < m->count; i++) {
		const struct pf_merged_item *item = &m->items[i];
		if (item->python) {
			pf_format_frame(out, &t->frames[item->index]);
			if (style->locals)
				format_locals(out, &t->frames[item->index]);
			continue;
		}
		const struct pf_native_frame *f = &t->native[item->index];
		format_native_frame(out, f);
		if (f->source_file)
			fprintf(out, " (%s:%d)", f->source_file,
				f->source_line);
		fputc('\n', out);
	}
}

static void format_threads(FILE *out, const struct pf_thread_dump *threads,
			   size_t n, bool truncated, const char *dumper_name,
			   const struct pf_merged *merges,
			   const struct pf_style *style)
{
	struct frame_memo *memo = calloc(1, sizeof *memo);
	for (size_t i = 0; i < n; i++) {
		const struct pf_thread_dump *t = &threads[i];
		if (i != 0)
			fputc('\n', out);
		fprintf(out, "%s 0x%016llx",
			t->is_current ? "Current thread" : "Thread",
			(unsigned long long)t->thread_id);
		/* Empty when the name could not be read, as when the
		 * backport's prctl(PR_GET_NAME) gives nothing. */
		if (style->thread_name_suffix && dumper_name[0] != '\0')
			fprintf(out, " <%s>", dumper_name);
		if (style->thread_names && t->name[0])
			fprintf(out, " [%s]", t->name);
		if (style->python_names && t->python_name.present) {
			fputc(' ', out);
			pf_format_quoted(out, &t->python_name);
		}
		fputs(" (most recent call first):\n", out);
		if (t->gc_collecting && style->gc_line)
			fputs("  Garbage-collecting\n", out);
		if (merges)
			format_merged_frames(out, t, &merges[i], style);
		else
			format_frames(out, t, style, memo);
	}
	free(memo);
	if (truncated)
		fputs("\n...\n", out);
}

void pf_format_threads(FILE *out, const struct pf_snapshot *snap,
		       const struct pf_style *style)
{
	format_threads(out, snap->threads, snap->nthreads,
		       snap->threads_truncated, snap->dumper_name, NULL, style);
}

void pf_format_threads_merged(FILE *out, const struct pf_snapshot *snap,
			      const struct pf_merged *merges,
			      const struct pf_style *style)
{
	format_threads(out, snap->threads, snap->nthreads,
		       snap->threads_truncated, snap->dumper_name, merges,
		       style);
}

void pf_format_interpreter_name(FILE *out,
				const struct pf_interp_dump *interp)
{
	if (interp->id >= 0)
		fprintf(out, "Interpreter %lld:\n", (long long)interp->id);
	else
		fprintf(out, "Interpreter at 0x%llx:\n",
			(unsigned long long)interp->addr);
}

void pf_format_interpreter(FILE *out, const struct pf_snapshot *snap,
			   const struct pf_interp_dump *interp,
			   const struct pf_merged *merges,
			   const struct pf_style *style)
{
	fputc('\n', out);
	pf_format_interpreter_name(out, interp);
	format_threads(out, interp->threads, interp->nthreads,
		       interp->threads_truncated, snap->dumper_name, merges,
		       style);
	if (interp->unreadable)
		fputs("  <the rest of its thread list is unreadable>\n", out);
	else if (interp->nthreads == 0)
		fputs("  <no thread>\n", out);
}

void pf_format_interpreters_truncated(FILE *out,
				      const struct pf_snapshot *snap)
{
	if (snap->interps_truncated)
		fputs("\n<more interpreters not shown>\n", out);
}

void pf_format_stack(FILE *out, const struct pf_thread_dump *thread,
		     const struct pf_style *style)
{
	fputs("Stack (most recent call first):\n", out);
	format_frames(out, thread, style, NULL);
}

void pf_format_stack_merged(FILE *out, const struct pf_thread_dump *thread,
			    const struct pf_merged *merged,
			    const struct pf_style *style)
{
	fputs("Stack (most recent call first):\n", out);
	format_merged_frames(out, thread, merged, style);
}

void pf_format_extension_modules(FILE *out,
				 const struct pf_module_list *modules)
{
	if (modules->count == 0)
		return;
	fputs("\nExtension modules: ", out);
	for (size_t i = 0; i < modules->count; i++) {
		if (i != 0)
			fputs(", ", out);
		pf_format_text(out, &modules->names[i]);
	}
	fprintf(out, " (total: %zu)\n", modules->count);
}

bool pf_format_fatal_header(FILE *out, int signum,
			    const struct pf_style *style)
{
	const char *name;
	switch (signum) {
	case SIGSEGV:
		name = "Segmentation fault";
		break;
	case SIGFPE:
		name = style->fpe_hyphenated ? "Floating-point exception"
					     : "Floating point exception";
		break;
	case SIGABRT:
		name = "Aborted";
		break;
	case SIGBUS:
		name = "Bus error";
		break;
	case SIGILL:
		name = "Illegal instruction";
		break;
	default:
		return false;
	}
	fprintf(out, "Fatal Python error: %s\n\n", name);
	return true;
}

uint64_t pf_timeout_us(double seconds)
{
	/* Seconds to nanoseconds rounded up in double arithmetic, then
	 * nanoseconds to microseconds rounded up, so that 2.000001 gives
	 * 2.000002 as faulthandler 3.7+ prints it. */
	uint64_t ns = (uint64_t)ceil(seconds * 1e9);
	return (ns + 999) / 1000;
}

void pf_format_timeout_header(FILE *out, double seconds,
			      enum pf_timeout_text text)
{
	uint64_t sec, us;
	if (text == PF_TIMEOUT_ROUNDED_UP) {
		uint64_t timeout_us = pf_timeout_us(seconds);
		sec = timeout_us / 1000000;
		us = timeout_us % 1000000;
	} else {
		/* format_timeout(double) of 3.6 and of the backport, in the
		 * same double operations. */
		double whole, fraction = modf(seconds, &whole);
		sec = (uint64_t)whole;
		us = (uint64_t)(fraction * 1e6);
	}
	unsigned long long hour = sec / 3600, min = sec / 60 % 60;
	sec %= 60;
	if (us != 0)
		fprintf(out, "Timeout (%llu:%02llu:%02llu.%06llu)!\n", hour, min,
			(unsigned long long)sec, (unsigned long long)us);
	else
		fprintf(out, "Timeout (%llu:%02llu:%02llu)!\n", hour, min,
			(unsigned long long)sec);
}

void pf_format_gil_disabled_notice(FILE *out)
{
	fputs("<Cannot show all threads while the GIL is disabled>\n", out);
}
