/* --tasks below the walk: the _AsyncioDebug words checked as CPython's own
 * reader would need them; the shipped TaskObj rows of 3.11-3.13 and their
 * DWARF source (with PYFAULT_TEST_ASYNCIO=<an _asyncio extension whose
 * DWARF is found> and PYFAULT_TEST_PYVERSION=3.X, that DWARF must give the
 * table's row for 3.X); and the task section's text (list, tree, deadlock
 * cycles). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/task_format.h"
#include "layout/asyncio_layout.h"
#include "layout/layout_tables.h"
#include "walk/task_walker.h"

#include "output_capture.h"
#include "check_run.h"

/* The sections of real 3.14.7 and 3.14.7t builds' _asyncio modules. */
static const uint64_t words_314[PF_ASYNCIO_BLOB_WORDS] = {
	168, 136, 96, 108, 109, 128, 152, 225864, 10880, 936, 864, 872, 880};
static const uint64_t words_314t[PF_ASYNCIO_BLOB_WORDS] = {
	192, 152, 112, 124, 125, 144, 168, 246720, 17632, 15608, 864, 872,
	880};

START_TEST(test_layout_real)
{
	struct pf_asyncio_layout l;
	char note[160] = "";
	ck_assert(pf_asyncio_layout_from_blob(&l, words_314, sizeof words_314,
					      note, sizeof note));
	ck_assert_int_eq(l.task.size, 168);
	ck_assert_int_eq(l.task.coro, 128);
	ck_assert_int_eq(l.task.node, 152);
	ck_assert_int_eq(l.interp.tasks_head, 10880);
	ck_assert_int_eq(l.tstate.tasks_head, 880);
	ck_assert(pf_asyncio_layout_from_blob(&l, words_314t,
					      sizeof words_314t, note,
					      sizeof note));
	ck_assert_int_eq(l.task.node, 168);
	ck_assert_int_eq(l.interp.size, 246720);
}
END_TEST

/* Every field moved to the end of its struct, where what the walker reads
 * there would overhang it: refused, naming the field. */
START_TEST(test_layout_field_outside)
{
	static const struct {
		unsigned index, size_index;
		const char *name;
		uint64_t width;
	} fields[] = {
		{1, 0, "asyncio_task_object.task_name", 8},
		{2, 0, "asyncio_task_object.task_awaited_by", 8},
		{3, 0, "asyncio_task_object.task_is_task", 1},
		{4, 0, "asyncio_task_object.task_awaited_by_is_set", 1},
		{5, 0, "asyncio_task_object.task_coro", 8},
		{6, 0, "asyncio_task_object.task_node", 16},
		{8, 7, "asyncio_interpreter_state.asyncio_tasks_head", 16},
		{10, 9, "asyncio_thread_state.asyncio_running_loop", 8},
		{11, 9, "asyncio_thread_state.asyncio_running_task", 8},
		{12, 9, "asyncio_thread_state.asyncio_tasks_head", 16},
	};
	for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
		uint64_t w[PF_ASYNCIO_BLOB_WORDS];
		struct pf_asyncio_layout l;
		char note[160] = "";
		memcpy(w, words_314, sizeof w);
		/* The last place that still fits, then one byte further. */
		w[fields[i].index] = w[fields[i].size_index] - fields[i].width;
		ck_assert_msg(pf_asyncio_layout_from_blob(&l, w, sizeof w, note,
							  sizeof note),
			      "%s: %s", fields[i].name, note);
		w[fields[i].index]++;
		ck_assert(!pf_asyncio_layout_from_blob(&l, w, sizeof w, note,
						       sizeof note));
		ck_assert_msg(strstr(note, fields[i].name) != NULL, "%s", note);
	}
}
END_TEST

START_TEST(test_layout_bad_sizes)
{
	uint64_t w[PF_ASYNCIO_BLOB_WORDS];
	struct pf_asyncio_layout l;
	char note[160];
	memcpy(w, words_314, sizeof w);
	w[0] = 0;
	ck_assert(!pf_asyncio_layout_from_blob(&l, w, sizeof w, note,
					       sizeof note));
	ck_assert(strstr(note, "asyncio_task_object.size") != NULL);
	memcpy(w, words_314, sizeof w);
	w[9] = UINT64_MAX;
	ck_assert(!pf_asyncio_layout_from_blob(&l, w, sizeof w, note,
					       sizeof note));
	ck_assert(strstr(note, "asyncio_thread_state.size") != NULL);
	/* A section shorter than the struct. */
	ck_assert(!pf_asyncio_layout_from_blob(&l, words_314, 96, note,
					       sizeof note));
}
END_TEST

static struct pf_frame frame(const struct pf_text *file,
			     const struct pf_text *name, int line)
{
	return (struct pf_frame){.filename = file, .name = name,
				 .lineno = line};
}

/* main awaits a and b (gather), c and d await each other. */
struct sample {
	struct pf_text names[5], file, fn[3];
	struct pf_frame frames[5][2];
	size_t by[5][2], awaiting[5][2];
	struct pf_task tasks[5];
	struct pf_task_loop loop;
	struct pf_task_list list;
};

static void sample_init(struct sample *s)
{
	static const char *names[] = {"main", "a", "b", "c", "d\n"};
	memset(s, 0, sizeof *s);
	for (int i = 0; i < 5; i++)
		s->names[i] = text_of(names[i]);
	s->file = text_of("app.py");
	s->fn[0] = text_of("main");
	s->fn[1] = text_of("wait");
	s->fn[2] = text_of("handler");
	for (int i = 0; i < 5; i++) {
		struct pf_task *t = &s->tasks[i];
		t->id = 0x1000u + 0x100u * (unsigned)i;
		t->name = s->names[i];
		t->thread_id = 0x7f00;
		t->loop = 0x5000;
		t->frames = s->frames[i];
		t->awaited_by = s->by[i];
		t->awaiting = s->awaiting[i];
		if (i == 0) {
			s->frames[0][0] = frame(&s->file, &s->fn[0], 7);
			t->nframes = 1;
		} else {
			s->frames[i][0] = frame(&s->file, &s->fn[1], 3);
			s->frames[i][1] = frame(&s->file, &s->fn[2], 5);
			t->nframes = 2;
		}
	}
	s->tasks[0].state = PF_TASK_RUNNING;
	s->tasks[0].nawaiting = 2;
	s->awaiting[0][0] = 1;
	s->awaiting[0][1] = 2;
	s->tasks[1].nawaited_by = s->tasks[2].nawaited_by = 1;
	s->by[1][0] = s->by[2][0] = 0;
	snprintf(s->tasks[1].awaits_type, sizeof s->tasks[1].awaits_type,
		 "_asyncio.FutureIter");
	s->tasks[1].awaits_object = 0xabc;
	/* A corrupt type name is escaped, never written raw. */
	snprintf(s->tasks[2].awaits_type, sizeof s->tasks[2].awaits_type,
		 "odd\033type");
	s->tasks[3].nawaiting = s->tasks[3].nawaited_by = 1;
	s->tasks[4].nawaiting = s->tasks[4].nawaited_by = 1;
	s->awaiting[3][0] = s->by[3][0] = 4;
	s->awaiting[4][0] = s->by[4][0] = 3;
	s->tasks[3].cycle = s->tasks[4].cycle = 1;
	s->loop = (struct pf_task_loop){0x7f00, 0x5000, 0x1000};
	s->list = (struct pf_task_list){.collected = true, .count = 5,
					.tasks = s->tasks, .nloops = 1,
					.loops = &s->loop, .ncycles = 1};
}

static void sample_free(struct sample *s)
{
	for (int i = 0; i < 5; i++)
		free(s->names[i].chars);
	free(s->file.chars);
	for (int i = 0; i < 3; i++)
		free(s->fn[i].chars);
}

static const char list_text[] =
	"\nAsyncio tasks (5):\n"
	"Event loop 0x5000 running in thread 0x0000000000007f00\n"
	"\nTask \"main\" (id 0x1000), running, loop 0x5000, thread "
	"0x0000000000007f00 (most recent call first):\n"
	"  File \"app.py\", line 7 in main\n"
	"  awaits Task \"a\" (id 0x1100)\n"
	"  awaits Task \"b\" (id 0x1200)\n"
	"\nTask \"a\" (id 0x1100), pending, loop 0x5000, thread "
	"0x0000000000007f00 (most recent call first):\n"
	"  File \"app.py\", line 3 in wait\n"
	"  File \"app.py\", line 5 in handler\n"
	"  awaits _asyncio.FutureIter object at 0xabc\n"
	"  awaited by Task \"main\" (id 0x1000)\n"
	"\nTask \"b\" (id 0x1200), pending, loop 0x5000, thread "
	"0x0000000000007f00 (most recent call first):\n"
	"  File \"app.py\", line 3 in wait\n"
	"  File \"app.py\", line 5 in handler\n"
	"  awaits odd\\x1btype object at 0x0\n"
	"  awaited by Task \"main\" (id 0x1000)\n"
	"\nTask \"c\" (id 0x1300), pending, loop 0x5000, thread "
	"0x0000000000007f00 (most recent call first):\n"
	"  File \"app.py\", line 3 in wait\n"
	"  File \"app.py\", line 5 in handler\n"
	"  awaits Task \"d\\x0a\" (id 0x1400)\n"
	"  awaited by Task \"d\\x0a\" (id 0x1400)\n"
	"  in deadlock cycle 1\n"
	"\nTask \"d\\x0a\" (id 0x1400), pending, loop 0x5000, thread "
	"0x0000000000007f00 (most recent call first):\n"
	"  File \"app.py\", line 3 in wait\n"
	"  File \"app.py\", line 5 in handler\n"
	"  awaits Task \"c\" (id 0x1300)\n"
	"  awaited by Task \"c\" (id 0x1300)\n"
	"  in deadlock cycle 1\n"
	"\nDeadlock cycle 1: Task \"c\" (id 0x1300) awaits Task \"d\\x0a\" "
	"(id 0x1400) awaits Task \"c\" (id 0x1300)\n";

START_TEST(test_format_list)
{
	struct sample s;
	sample_init(&s);
	open_out();
	ck_assert(pf_format_tasks(out, &s.list, PF_TASKS_LIST));
	ck_assert_str_eq(output(), list_text);
	close_out();
	sample_free(&s);
}
END_TEST

START_TEST(test_format_tree)
{
	struct sample s;
	sample_init(&s);
	open_out();
	ck_assert(pf_format_tasks(out, &s.list, PF_TASKS_TREE));
	ck_assert_str_eq(
		output(),
		"\nAsyncio tasks (5):\n"
		"Event loop 0x5000 running in thread 0x0000000000007f00\n"
		"\nTask \"main\" (id 0x1000): main\n"
		"|-- Task \"a\" (id 0x1100): wait <- handler\n"
		"`-- Task \"b\" (id 0x1200): wait <- handler\n"
		/* Nothing outside the cycle awaits c or d. */
		"\nTask \"c\" (id 0x1300): wait <- handler\n"
		"`-- Task \"d\\x0a\" (id 0x1400): wait <- handler\n"
		"    `-- Task \"c\" (id 0x1300) (shown above)\n"
		"\nDeadlock cycle 1: Task \"c\" (id 0x1300) awaits Task "
		"\"d\\x0a\" (id 0x1400) awaits Task \"c\" (id 0x1300)\n");
	close_out();
	sample_free(&s);
}
END_TEST

START_TEST(test_format_note_and_nothing)
{
	struct pf_task_list list = {.collected = true};
	snprintf(list.note, sizeof list.note, "asyncio tasks not shown: why");
	open_out();
	ck_assert(pf_format_tasks(out, &list, PF_TASKS_LIST));
	ck_assert_str_eq(output(), "\nAsyncio tasks (0):\n\nNote: asyncio "
				   "tasks not shown: why\n");
	close_out();
	/* Not collected, or not asked for: nothing at all. */
	list.collected = false;
	open_out();
	ck_assert(pf_format_tasks(out, &list, PF_TASKS_LIST));
	ck_assert_str_eq(output(), "");
	close_out();
}
END_TEST

/* Each of 3.11-3.13 has a TaskObj row whose fields lie in the struct,
 * and the layout row of that version has all the registry walk reads. */
START_TEST(test_asyncio_rows)
{
	size_t count;
	const struct pf_asyncio_table_row *rows = pf_asyncio_table_rows(&count);
	for (unsigned minor = 11; minor <= 13; minor++) {
		size_t found = count;
		for (size_t i = 0; i < count; i++)
			if (rows[i].major == 3 && rows[i].minor == minor) {
				ck_assert_msg(found == count,
					      "two rows for 3.%u", minor);
				found = i;
			}
		ck_assert_msg(found < count, "no TaskObj row for 3.%u", minor);
		const struct pf_asyncio_table_row *r = &rows[found];
		const int64_t fields[] = {r->loop, r->fut_waiter, r->coro,
					  r->name};
		for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
			ck_assert(fields[i] >= 16 && fields[i] <= r->size - 8);
		ck_assert(r->state >= 16 && r->state <= r->size - 4);
		struct pf_layout l;
		struct pf_error err = {0};
		const char *missing = NULL;
		ck_assert(pf_layout_init_version(&l, 3, minor, 0));
		ck_assert_int_eq(pf_layout_from_table(&l, &err), PF_OK);
		ck_assert_msg(pf_task_layout_complete(&l, PF_ASYNCIO_REGISTRY,
						      &missing),
			      "3.%u's row lacks %s", minor, missing);
	}
}
END_TEST

/* No DWARF, or DWARF without TaskObj: said, naming the file. */
START_TEST(test_ctask_dwarf_missing)
{
	struct pf_asyncio_layout a;
	struct pf_error err = {0};
	char detail[256];
	memset(&a, 0, sizeof a);
	ck_assert_int_eq(pf_asyncio_ctask_from_dwarf("/nonexistent/_asyncio.so",
						     NULL, &a, detail,
						     sizeof detail, &err),
			 PF_ERR_NO_OFFSETS);
	ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/_asyncio.so"));
	err = (struct pf_error){0};
	ck_assert_int_eq(pf_asyncio_ctask_from_dwarf("/proc/self/exe", NULL, &a,
						     detail, sizeof detail,
						     &err),
			 PF_ERR_NO_OFFSETS);
	ck_assert_uint_gt(strlen(err.message), 0);
	ck_assert_int_eq(a.ctask.size, 0);
}
END_TEST

START_TEST(test_ctask_dwarf_matches_table)
{
	const char *elf = getenv("PYFAULT_TEST_ASYNCIO");
	const char *version = getenv("PYFAULT_TEST_PYVERSION");
	unsigned major, minor;
	if (elf == NULL || elf[0] == '\0' || version == NULL ||
	    sscanf(version, "%u.%u", &major, &minor) != 2) {
		printf("test_tasks: skipping the TaskObj DWARF comparison: set "
		       "PYFAULT_TEST_ASYNCIO to an _asyncio extension with "
		       "DWARF and PYFAULT_TEST_PYVERSION to its 3.X\n");
		return;
	}
	struct pf_asyncio_layout a;
	struct pf_error err = {0};
	char detail[256];
	memset(&a, 0, sizeof a);
	ck_assert_msg(pf_asyncio_ctask_from_dwarf(elf, NULL, &a, detail,
						  sizeof detail,
						  &err) == PF_OK,
		      "%s", err.message);
	size_t count;
	const struct pf_asyncio_table_row *rows = pf_asyncio_table_rows(&count);
	size_t found = count;
	for (size_t i = 0; i < count; i++)
		if (rows[i].major == major && rows[i].minor == minor)
			found = i;
	ck_assert_msg(found < count, "no TaskObj row for %u.%u", major,
		      minor);
	const struct pf_asyncio_table_row *r = &rows[found];
	ck_assert_int_eq(a.ctask.size, r->size);
	ck_assert_int_eq(a.ctask.loop, r->loop);
	ck_assert_int_eq(a.ctask.state, r->state);
	ck_assert_int_eq(a.ctask.fut_waiter, r->fut_waiter);
	ck_assert_int_eq(a.ctask.coro, r->coro);
	ck_assert_int_eq(a.ctask.name, r->name);
}
END_TEST

static Suite *tasks_suite(void)
{
	Suite *s = suite_create("tasks");
	TCase *tc = tcase_create("tasks");
	tcase_add_test(tc, test_layout_real);
	tcase_add_test(tc, test_layout_field_outside);
	tcase_add_test(tc, test_layout_bad_sizes);
	tcase_add_test(tc, test_format_list);
	tcase_add_test(tc, test_format_tree);
	tcase_add_test(tc, test_format_note_and_nothing);
	suite_add_tcase(s, tc);
	TCase *rows = tcase_create("TaskObj of 3.11-3.13");
	/* A compressed debug file under valgrind or a sanitizer. */
	tcase_set_timeout(rows, 60);
	tcase_add_test(rows, test_asyncio_rows);
	tcase_add_test(rows, test_ctask_dwarf_missing);
	tcase_add_test(rows, test_ctask_dwarf_matches_table);
	suite_add_tcase(s, rows);
	return s;
}

int main(void)
{
	return pf_check_run(tasks_suite());
}
