/* The C stack text (3.14's _Py_DumpStack lines) and the merging of C and
 * Python frames, on hand-made threads. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/fh_format.h"
#include "native/native_merge.h"
#include "dump/target_dump.h"
#include "output_capture.h"
#include "check_run.h"

#define LIBPYTHON "/usr/lib/libpython3.12.so.1.0"
#define LIBC "/usr/lib/libc.so.6"
#define EXT "/tmp/ext.so"

static struct pf_text file_text, names[4];

static void setup_texts(void)
{
	file_text = text_of("t.py");
	const char *n[] = {"inner", "middle", "outer", "<module>"};
	for (int i = 0; i < 4; i++)
		names[i] = text_of(n[i]);
}

static void free_texts(void)
{
	free(file_text.chars);
	for (int i = 0; i < 4; i++)
		free(names[i].chars);
}

/* Python frames newest first; entry[i] says frame i starts a call. */
static void add_python(struct pf_thread_dump *t, const bool *entry, size_t n)
{
	for (size_t i = 0; i < n; i++)
		t->frames[i] = (struct pf_frame){.filename = &file_text,
						 .name = &names[i],
						 .lineno = (int)i + 1,
						 .entry = entry[i]};
	t->nframes = n;
	t->entries_known = true;
}

static void add_native(struct pf_thread_dump *t, const char *object,
		       const char *symbol)
{
	size_t i = t->nnative++;
	t->native = realloc(t->native, t->nnative * sizeof *t->native);
	t->native[i] = (struct pf_native_frame){
		.pc = 0x7f0000001000 + i * 0x10,
		.object = object ? strdup(object) : NULL,
		.symbol = symbol ? strdup(symbol) : NULL,
		.symbol_offset = 0x10 + i,
		.return_address = i > 0,
	};
}

static void free_native(struct pf_thread_dump *t)
{
	for (size_t i = 0; i < t->nnative; i++) {
		free(t->native[i].object);
		free(t->native[i].symbol);
		free(t->native[i].source_file);
	}
	free(t->native);
}

START_TEST(test_section_lines)
{
	struct pf_thread_dump t = {.thread_id = 0x7f00aa, .is_current = true};
	add_native(&t, EXT, "crash_inner");
	add_native(&t, EXT, NULL);
	t.native[1].load_bias = 0x7f0000000000;
	add_native(&t, "/usr/bin/python3", NULL);
	add_native(&t, NULL, NULL);
	open_out();
	pf_format_native_stack(out, &t);
	ck_assert_str_eq(
		output(),
		"\nCurrent thread's C stack trace (most recent call first):\n"
		"  Binary file \"/tmp/ext.so\", at crash_inner+0x10 "
		"[0x7f0000001000]\n"
		"  Binary file \"/tmp/ext.so\", at +0x1010 [0x7f0000001010]\n"
		"  Binary file \"/usr/bin/python3\" [0x7f0000001020]\n"
		"  Binary file '<unknown>' [0x7f0000001030]\n");
	close_out();

	t.is_current = false;
	t.native_truncated = true;
	t.nnative = 1;
	open_out();
	pf_format_native_stack(out, &t);
	ck_assert_str_eq(
		output(),
		"\nC stack trace of thread 0x00000000007f00aa (most recent call "
		"first):\n"
		"  Binary file \"/tmp/ext.so\", at crash_inner+0x10 "
		"[0x7f0000001000]\n"
		"  <truncated rest of calls>\n");
	close_out();
	t.nnative = 4;
	free_native(&t);

	struct pf_thread_dump empty = {.is_current = true};
	open_out();
	pf_format_native_stack(out, &empty);
	ck_assert_str_eq(
		output(),
		"\nCurrent thread's C stack trace (most recent call first):\n"
		"  <system returned no stack trace>\n");
	close_out();
}
END_TEST

START_TEST(test_eval_loop_names)
{
	ck_assert(pf_is_eval_loop("_PyEval_EvalFrameDefault"));
	ck_assert(pf_is_eval_loop("_PyEval_EvalFrameDefault.cold"));
	ck_assert(pf_is_eval_loop("_TAIL_CALL_LOAD_FAST"));
	ck_assert(!pf_is_eval_loop("_PyEval_EvalFrameDefaultX"));
	ck_assert(!pf_is_eval_loop("_PyEval_Vector"));
	ck_assert(!pf_is_eval_loop(NULL));
}
END_TEST

/* inner and middle run in one call (3.11+ inlines Python calls), outer
 * in the call below a C extension, <module> in the first. */
static void three_calls(struct pf_thread_dump *t)
{
	static const bool entry[] = {false, true, true, true};
	add_python(t, entry, 4);
	add_native(t, LIBC, "read");
	add_native(t, LIBPYTHON, "os_read");
	add_native(t, LIBPYTHON, "_PyEval_EvalFrameDefault");
	add_native(t, LIBPYTHON, "_PyEval_Vector");
	add_native(t, EXT, "call_back");
	add_native(t, LIBPYTHON, "_PyEval_EvalFrameDefault");
	add_native(t, LIBPYTHON, "PyEval_EvalCode");
	add_native(t, LIBPYTHON, "_PyEval_EvalFrameDefault");
	add_native(t, LIBC, "__libc_start_main");
}

START_TEST(test_merge_interleaves)
{
	struct pf_thread_dump t = {.thread_id = 1, .is_current = true};
	three_calls(&t);
	t.native[4].source_file = strdup("ext.c");
	t.native[4].source_line = 12;
	struct pf_merged m;
	ck_assert(pf_merge_stacks(&t, LIBPYTHON, &m));
	ck_assert_int_eq(m.result, PF_MERGED);
	ck_assert_uint_eq(m.eval_calls, 3);
	ck_assert_uint_eq(m.python_calls, 3);

	struct pf_style style = {.no_frame_indented = true};
	open_out();
	pf_format_stack_merged(out, &t, &m, &style);
	ck_assert_str_eq(
		output(),
		"Stack (most recent call first):\n"
		"  Binary file \"" LIBC "\", at read+0x10 [0x7f0000001000]\n"
		"  File \"t.py\", line 1 in inner\n"
		"  File \"t.py\", line 2 in middle\n"
		"  Binary file \"" EXT "\", at call_back+0x14 [0x7f0000001040] "
		"(ext.c:12)\n"
		"  File \"t.py\", line 3 in outer\n"
		"  File \"t.py\", line 4 in <module>\n"
		"  Binary file \"" LIBC "\", at __libc_start_main+0x18 "
		"[0x7f0000001080]\n");
	close_out();
	pf_merged_free(&m);
	free_native(&t);
}
END_TEST

START_TEST(test_merge_refuses_counts)
{
	struct pf_thread_dump t = {.thread_id = 1};
	three_calls(&t);
	t.frames[2].entry = false;  /* one call fewer in Python than in C */
	struct pf_merged m;
	ck_assert(pf_merge_stacks(&t, LIBPYTHON, &m));
	ck_assert_int_eq(m.result, PF_MERGE_COUNTS_DIFFER);
	struct pf_style style = {.no_frame_indented = true};
	open_out();
	pf_format_stack_merged(out, &t, &m, &style);
	const char *text = output();
	ck_assert_ptr_nonnull(strstr(
		text, "  File \"t.py\", line 4 in <module>\n"
		      "  <C stack not merged: 3 evaluation-loop calls in C, 2 in "
		      "Python>\n"
		      "  Binary file \"" LIBC "\", at read+0x10"));
	/* Shown apart, the interpreter's frames stay. */
	ck_assert_ptr_nonnull(strstr(text, "_PyEval_Vector"));
	close_out();
	pf_merged_free(&m);
	free_native(&t);
}
END_TEST

START_TEST(test_merge_refuses_oldest_not_entry)
{
	struct pf_thread_dump t = {.thread_id = 1};
	three_calls(&t);
	/* Counts agree, but <module> would belong to no call. */
	t.frames[0].entry = true;
	t.frames[3].entry = false;
	struct pf_merged m;
	ck_assert(pf_merge_stacks(&t, LIBPYTHON, &m));
	ck_assert_int_eq(m.result, PF_MERGE_COUNTS_DIFFER);
	pf_merged_free(&m);
	free_native(&t);
}
END_TEST

START_TEST(test_merge_refuses_unknowns)
{
	struct pf_thread_dump t = {.thread_id = 1};
	three_calls(&t);
	struct pf_merged m;
	t.entries_known = false;
	ck_assert(pf_merge_stacks(&t, LIBPYTHON, &m));
	ck_assert_int_eq(m.result, PF_MERGE_UNKNOWN_ENTRIES);
	t.entries_known = true;
	t.native_truncated = true;
	ck_assert(pf_merge_stacks(&t, LIBPYTHON, &m));
	ck_assert_int_eq(m.result, PF_MERGE_TRUNCATED);
	free_native(&t);

	struct pf_thread_dump none = {.thread_id = 1};
	static const bool entry[] = {true};
	add_python(&none, entry, 1);
	ck_assert(pf_merge_stacks(&none, LIBPYTHON, &m));
	ck_assert_int_eq(m.result, PF_MERGE_NO_C_STACK);
}
END_TEST

START_TEST(test_merge_tail_calls)
{
	/* 3.14's tail-calling loop: _PyEval_EvalFrameDefault and the
	 * instruction function it called are one call. */
	struct pf_thread_dump t = {.thread_id = 1};
	static const bool entry[] = {true};
	add_python(&t, entry, 1);
	add_native(&t, LIBPYTHON, "_TAIL_CALL_CALL_BUILTIN_FAST");
	add_native(&t, LIBPYTHON, "_PyEval_EvalFrameDefault");
	add_native(&t, LIBC, "__libc_start_main");
	struct pf_merged m;
	ck_assert(pf_merge_stacks(&t, LIBPYTHON, &m));
	ck_assert_int_eq(m.result, PF_MERGED);
	ck_assert_uint_eq(m.count, 2);
	ck_assert(m.items[0].python);
	ck_assert(!m.items[1].python);
	pf_merged_free(&m);
	free_native(&t);
}
END_TEST

START_TEST(test_default_view)
{
	/* As faulthandler: a C stack on fatal errors from 3.14 on. */
	struct pf_layout l;
	ck_assert(pf_layout_init_version(&l, 3, 13, 0));
	ck_assert(!l.native_by_default);
	ck_assert_int_eq(pf_native_view_for(PF_NATIVE_DEFAULT, &l, true),
			 PF_NATIVE_NONE);
	l.native_by_default = true;
	ck_assert_int_eq(pf_native_view_for(PF_NATIVE_DEFAULT, &l, true),
			 PF_NATIVE_CURRENT);
	ck_assert_int_eq(pf_native_view_for(PF_NATIVE_DEFAULT, &l, false),
			 PF_NATIVE_NONE);
	ck_assert_int_eq(pf_native_view_for(PF_NATIVE_NONE, &l, true),
			 PF_NATIVE_NONE);
	ck_assert_int_eq(pf_native_view_for(PF_NATIVE_MERGED, &l, false),
			 PF_NATIVE_MERGED);
}
END_TEST

/* A fatal error of 3.14 past faulthandler's thread limit: two threads
 * shown (standing for the 100), "...", then the C stack of the current
 * thread, which is not among them, and of no other. */
START_TEST(test_current_c_stack_only)
{
	static struct pf_target target;
	ck_assert(pf_layout_init_version(&target.layout, 3, 14, 7));
	struct pf_thread_dump threads[2] = {{.thread_id = 0xa},
					    {.thread_id = 0xb}};
	struct pf_snapshot snap = {.nthreads = 2,
				   .threads = threads,
				   .threads_truncated = true,
				   .has_outside = true,
				   .outside = {.thread_id = 0xc,
					       .is_current = true}};
	add_native(&threads[0], LIBC, "other_thread");
	add_native(&snap.outside, EXT, "crash_inner");
	const char *c_stack =
		"\nCurrent thread's C stack trace (most recent call first):\n"
		"  Binary file \"/tmp/ext.so\", at crash_inner+0x10 "
		"[0x7f0000001000]\n";
	enum pf_native_view view =
		pf_native_view_for(PF_NATIVE_DEFAULT, &target.layout, true);
	open_out();
	ck_assert(pf_write_fatal_threads(out, &target, &snap, false, view));
	char *want;
	ck_assert_int_gt(
		asprintf(&want,
			 "Thread 0x000000000000000a (most recent call first):\n"
			 "  <no Python frame>\n"
			 "\n"
			 "Thread 0x000000000000000b (most recent call first):\n"
			 "  <no Python frame>\n"
			 "\n...\n%s",
			 c_stack),
		0);
	ck_assert_str_eq(output(), want);
	free(want);
	close_out();

	/* all_threads=False finds it all the same. */
	open_out();
	ck_assert(pf_write_fatal_threads(out, &target, &snap, true, view));
	ck_assert_int_gt(asprintf(&want,
				  "Stack (most recent call first):\n"
				  "  <no Python frame>\n%s",
				  c_stack),
			 0);
	ck_assert_str_eq(output(), want);
	free(want);
	close_out();

	/* 3.14t without the GIL, the faulting thread without a thread
	 * state: no notice, no Python frames, its C stack. */
	pf_layout_set_free_threaded(&target.layout);
	snap.gil_disabled = true;
	snap.outside.no_tstate = true;
	open_out();
	ck_assert(pf_write_fatal_threads(out, &target, &snap, false, view));
	ck_assert_str_eq(output(), c_stack);
	close_out();
	free_native(&threads[0]);
	free_native(&snap.outside);
}
END_TEST

static Suite *native_suite(void)
{
	Suite *s = suite_create("native");
	TCase *tc = tcase_create("C stacks");
	tcase_add_checked_fixture(tc, setup_texts, free_texts);
	tcase_add_test(tc, test_section_lines);
	tcase_add_test(tc, test_eval_loop_names);
	tcase_add_test(tc, test_merge_interleaves);
	tcase_add_test(tc, test_merge_refuses_counts);
	tcase_add_test(tc, test_merge_refuses_oldest_not_entry);
	tcase_add_test(tc, test_merge_refuses_unknowns);
	tcase_add_test(tc, test_merge_tail_calls);
	tcase_add_test(tc, test_default_view);
	tcase_add_test(tc, test_current_c_stack_only);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(native_suite());
}
