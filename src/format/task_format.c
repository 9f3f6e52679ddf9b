#include "format/task_format.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format/fh_format.h"

/* Task "NAME" (id 0x...), with the name escaped as faulthandler escapes
 * every str it prints. */
static void format_task_ref(FILE *out, const struct pf_task *t)
{
	fputs("Task ", out);
	if (t->name.present) {
		fputc('"', out);
		pf_format_text(out, &t->name);
		fputc('"', out);
	} else {
		fputs("???", out);
	}
	fprintf(out, " (id 0x%" PRIx64 ")", t->id);
}

/* A C string of the target (a type's tp_name): printable ASCII as it
 * is, every other byte as \xNN, as faulthandler writes what is not. */
static void format_bytes(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= ' ' && *p <= 126)
			fputc(*p, out);
		else
			fprintf(out, "\\x%02x", *p);
}

/* Where a task is: its state, loop and thread. */
static void format_where(FILE *out, const struct pf_task *t)
{
	fputs(t->state == PF_TASK_RUNNING ? "running" : "pending", out);
	if (t->loop != 0)
		fprintf(out, ", loop 0x%" PRIx64, t->loop);
	if (t->thread_id != 0)
		fprintf(out, ", thread 0x%016" PRIx64, t->thread_id);
	else
		fputs(t->loop_stopped ? ", loop not running" : ", thread ended",
		      out);
}

static void format_relations(FILE *out, const struct pf_task_list *list,
			     const char *label, const size_t *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "  %s ", label);
		format_task_ref(out, &list->tasks[tasks[i]]);
		fputc('\n', out);
	}
}

static void format_task(FILE *out, const struct pf_task_list *list,
			const struct pf_task *t)
{
	fputc('\n', out);
	format_task_ref(out, t);
	fputs(", ", out);
	format_where(out, t);
	fputs(" (most recent call first):\n", out);
	if (t->nframes == 0)
		fputs("  <no Python frame>\n", out);
	for (size_t i = 0; i < t->nframes; i++)
		pf_format_frame(out, &t->frames[i]);
	if (t->frames_truncated)
		fputs("  ...\n", out);
	if (t->awaits_type[0] != '\0') {
		fputs("  awaits ", out);
		format_bytes(out, t->awaits_type);
		fprintf(out, " object at 0x%" PRIx64 "\n", t->awaits_object);
	}
	format_relations(out, list, "awaits", t->awaiting, t->nawaiting);
	format_relations(out, list, "awaited by", t->awaited_by,
			 t->nawaited_by);
	if (t->cycle != 0)
		fprintf(out, "  in deadlock cycle %u\n", t->cycle);
}

/* "Deadlock cycle N: Task ... awaits Task ... awaits ..." in the order of
 * the awaits edges, back to the first. */
static void format_cycles(FILE *out, const struct pf_task_list *list)
{
	for (unsigned c = 1; c <= list->ncycles; c++) {
		const struct pf_task *first = NULL;
		for (size_t i = 0; first == NULL && i < list->count; i++)
			if (list->tasks[i].cycle == c)
				first = &list->tasks[i];
		if (first == NULL)
			continue;
		fprintf(out, "\nDeadlock cycle %u: ", c);
		format_task_ref(out, first);
		const struct pf_task *t = first;
		for (size_t steps = 0; steps < list->count; steps++) {
			const struct pf_task *next = NULL;
			for (size_t k = 0; next == NULL && k < t->nawaiting;
			     k++) {
				const struct pf_task *u =
					&list->tasks[t->awaiting[k]];
				if (u->cycle == c)
					next = u;
			}
			if (next == NULL)
				break;
			fputs(" awaits ", out);
			format_task_ref(out, next);
			if (next == first)
				break;
			t = next;
		}
		fputc('\n', out);
	}
}

/* The names of a task's chain, innermost first: "a <- b <- c". */
static void format_chain_names(FILE *out, const struct pf_task *t)
{
	for (size_t i = 0; i < t->nframes; i++) {
		if (i > 0)
			fputs(" <- ", out);
		if (t->frames[i].name->present)
			pf_format_text(out, t->frames[i].name);
		else
			fputs("???", out);
	}
	if (t->frames_truncated)
		fputs(" <- ...", out);
}

struct tree {
	FILE *out;
	const struct pf_task_list *list;
	bool *shown;
	char *prefix;       /* "|   " and "    " per level */
	size_t prefix_cap;
};

static size_t index_of(const struct pf_task_list *list,
		       const struct pf_task *t)
{
	return (size_t)(t - list->tasks);
}

/* A task and, under it, the tasks it awaits, depth first without
 * recursion depth limits of the C stack: a chain of 10,000 tasks each
 * awaiting the next is drawn with an explicit stack. */
static bool draw_tree(struct tree *tr, const struct pf_task *root)
{
	struct frame {
		const struct pf_task *t;
		size_t next_child;
		size_t prefix_len;
	};
	size_t cap = 64, depth = 0;
	struct frame *stack = malloc(cap * sizeof *stack);
	if (stack == NULL)
		return false;
	FILE *out = tr->out;
	format_task_ref(out, root);
	fputs(": ", out);
	format_chain_names(out, root);
	fputc('\n', out);
	tr->shown[index_of(tr->list, root)] = true;
	stack[depth++] = (struct frame){root, 0, 0};
	while (depth > 0) {
		struct frame *f = &stack[depth - 1];
		if (f->next_child == f->t->nawaiting) {
			depth--;
			continue;
		}
		size_t k = f->next_child++;
		bool last = f->next_child == f->t->nawaiting;
		const struct pf_task *child = &tr->list->tasks[f->t->awaiting[k]];
		fprintf(out, "%.*s%s", (int)f->prefix_len, tr->prefix,
			last ? "`-- " : "|-- ");
		format_task_ref(out, child);
		if (tr->shown[index_of(tr->list, child)]) {
			fputs(" (shown above)\n", out);
			continue;
		}
		fputs(": ", out);
		format_chain_names(out, child);
		fputc('\n', out);
		tr->shown[index_of(tr->list, child)] = true;
		size_t len = f->prefix_len + 4;
		if (len > tr->prefix_cap) {
			char *p = realloc(tr->prefix, 2 * len);
			if (p == NULL)
				break;
			tr->prefix = p;
			tr->prefix_cap = 2 * len;
		}
		memcpy(tr->prefix + f->prefix_len, last ? "    " : "|   ", 4);
		if (depth == cap) {
			struct frame *s = realloc(stack, 2 * cap * sizeof *s);
			if (s == NULL)
				break;
			stack = s;
			cap *= 2;
		}
		stack[depth] = (struct frame){child, 0, len};
		depth++;
	}
	free(stack);
	return depth == 0;
}

static bool format_tree(FILE *out, const struct pf_task_list *list)
{
	struct tree tr = {.out = out, .list = list};
	tr.shown = calloc(list->count ? list->count : 1, sizeof *tr.shown);
	tr.prefix_cap = 64;
	tr.prefix = malloc(tr.prefix_cap);
	bool ok = tr.shown && tr.prefix;
	/* The roots: tasks nothing awaits; then what only cycles reach. */
	for (size_t pass = 0; pass < 2 && ok; pass++)
		for (size_t i = 0; i < list->count && ok; i++) {
			const struct pf_task *t = &list->tasks[i];
			if (tr.shown[i] || (pass == 0 && t->nawaited_by > 0))
				continue;
			fputc('\n', out);
			ok = draw_tree(&tr, t);
		}
	free(tr.shown);
	free(tr.prefix);
	return ok;
}

bool pf_format_tasks(FILE *out, const struct pf_task_list *list,
		     enum pf_tasks_view view)
{
	if (!list->collected || view == PF_TASKS_NONE)
		return true;
	fprintf(out, "\nAsyncio tasks (%zu%s):\n", list->count,
		list->truncated ? ", more not shown" : "");
	for (size_t i = 0; i < list->nloops; i++)
		fprintf(out, "Event loop 0x%" PRIx64
			" running in thread 0x%016" PRIx64 "\n",
			list->loops[i].loop, list->loops[i].thread_id);
	bool ok = true;
	if (view == PF_TASKS_TREE)
		ok = format_tree(out, list);
	else
		for (size_t i = 0; i < list->count; i++)
			format_task(out, list, &list->tasks[i]);
	if (list->truncated)
		fputs("...\n", out);
	format_cycles(out, list);
	if (list->note[0] != '\0')
		fprintf(out, "\nNote: %s\n", list->note);
	return ok;
}
