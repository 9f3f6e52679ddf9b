#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/fh_format.h"
#include "output_capture.h"
#include "check_run.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const struct pf_style style_313 = {
	.frame_limit_marker = false, .no_frame_line = true,
	.no_frame_indented = true, .gc_line = true,
};
static const struct pf_style style_38 = {
	.frame_limit_marker = true, .no_frame_line = true,
	.no_frame_indented = false, .gc_line = false,
};
static const struct pf_style style_37 = {.frame_limit_marker = true};
static const struct pf_style style_27 = {
	.frame_limit_marker = true, .thread_name_suffix = true,
};

START_TEST(test_escaping)
{
	/* _Py_DumpASCII: U+0020..U+007E raw, quotes and backslashes too. */
	uint32_t chars[] = {'a', '"', '\\', '~', '\t', 0x7f, 0xe9, 0xff, 0x100,
			    0x65e5, 0xdcff, 0xffff, 0x10000, 0x1f600};
	struct pf_text t = {.present = true, .length = 14, .chars = chars};
	open_out();
	pf_format_text(out, &t);
	ck_assert_str_eq(output(), "a\"\\~\\x09\\x7f\\xe9\\xff\\u0100\\u65e5"
				   "\\udcff\\uffff\\U00010000\\U0001f600");
	close_out();
}
END_TEST

/* A 2.7 str: every byte outside printable ASCII as \xNN, as the
 * backport's documentation promises (its code sign-extends bytes >= 0x80;
 * see man/pyfault-attach.1). */
START_TEST(test_escaping_bytes)
{
	uint32_t chars[] = {'a', '\t', 0x7f, 0x80, 0xc3, 0xff};
	struct pf_text t = {.present = true, .length = 6, .chars = chars};
	open_out();
	pf_format_text(out, &t);
	ck_assert_str_eq(output(), "a\\x09\\x7f\\x80\\xc3\\xff");
	close_out();
}
END_TEST

START_TEST(test_truncation_marker)
{
	struct pf_text t = text_of("abc");
	t.truncated = true;
	open_out();
	pf_format_text(out, &t);
	ck_assert_str_eq(output(), "abc...");
	close_out();
	free(t.chars);
}
END_TEST

static struct pf_snapshot one_thread(struct pf_text *file, struct pf_text *name,
				     size_t nframes)
{
	struct pf_snapshot snap = {.nthreads = 1};
	snap.threads = calloc(1, sizeof *snap.threads);
	snap.threads[0].thread_id = 0x7f12ab;
	snap.threads[0].nframes = nframes;
	for (size_t i = 0; i < nframes; i++)
		snap.threads[0].frames[i] = (struct pf_frame){
			.filename = file, .name = name, .lineno = (int)i + 1};
	return snap;
}

START_TEST(test_thread_header_and_frames)
{
	struct pf_text file = text_of("/srv/app.py"), name = text_of("handle");
	struct pf_snapshot snap = one_thread(&file, &name, 2);
	snap.threads[0].is_current = true;
	open_out();
	pf_format_threads(out, &snap, &style_313);
	ck_assert_str_eq(output(),
			 "Current thread 0x00000000007f12ab (most recent call "
			 "first):\n"
			 "  File \"/srv/app.py\", line 1 in handle\n"
			 "  File \"/srv/app.py\", line 2 in handle\n");
	close_out();
	free(snap.threads);
	free(file.chars);
	free(name.chars);
}
END_TEST

START_TEST(test_unknowns)
{
	struct pf_text absent = {.present = false};
	struct pf_snapshot snap = one_thread(&absent, &absent, 1);
	snap.threads[0].frames[0].lineno = -1;
	open_out();
	pf_format_threads(out, &snap, &style_313);
	ck_assert_str_eq(output(), "Thread 0x00000000007f12ab (most recent "
				   "call first):\n"
				   "  File ???, line ??? in ???\n");
	close_out();
	free(snap.threads);
}
END_TEST

/* 3.14.1+: the walk stopped at a frame with an unknown part, which
 * "<invalid frame>" follows, or replaces when its code was unreadable. */
START_TEST(test_invalid_frame)
{
	struct pf_text file = text_of("t.py"), name = text_of("f");
	struct pf_snapshot snap = one_thread(&file, &name, 2);
	snap.threads[0].frames[1].lineno = -1;
	snap.threads[0].invalid_frame = true;
	open_out();
	pf_format_stack(out, &snap.threads[0], &style_313);
	ck_assert_str_eq(output(), "Stack (most recent call first):\n"
				   "  File \"t.py\", line 1 in f\n"
				   "  File \"t.py\", line ??? in f\n"
				   "  <invalid frame>\n");
	close_out();
	snap.threads[0].nframes = 0;
	open_out();
	pf_format_stack(out, &snap.threads[0], &style_313);
	ck_assert_str_eq(output(), "Stack (most recent call first):\n"
				   "  <invalid frame>\n");
	close_out();
	free(file.chars);
	free(name.chars);
	free(snap.threads);
}
END_TEST

START_TEST(test_no_python_frame)
{
	struct pf_snapshot snap = one_thread(NULL, NULL, 0);
	open_out();
	pf_format_threads(out, &snap, &style_313);
	ck_assert(strstr(output(), "):\n  <no Python frame>\n") != NULL);
	close_out();
	open_out();
	pf_format_threads(out, &snap, &style_38);
	ck_assert(strstr(output(), "):\n<no Python frame>\n") != NULL);
	close_out();
	/* Up to 3.7, and in 2.7's backport, the header stands alone. */
	open_out();
	pf_format_threads(out, &snap, &style_37);
	ck_assert_str_eq(output(), "Thread 0x00000000007f12ab (most recent "
				   "call first):\n");
	close_out();
	free(snap.threads);
}
END_TEST

/* 2.7's backport names the thread that writes the dump in every header,
 * and says nothing when it has no name. */
START_TEST(test_thread_name_suffix)
{
	struct pf_text file = text_of("/srv/app.py"), name = text_of("run");
	struct pf_snapshot snap = one_thread(&file, &name, 1);
	snap.threads[0].is_current = true;
	strcpy(snap.dumper_name, "python");
	open_out();
	pf_format_threads(out, &snap, &style_27);
	ck_assert_str_eq(output(),
			 "Current thread 0x00000000007f12ab <python> (most "
			 "recent call first):\n"
			 "  File \"/srv/app.py\", line 1 in run\n");
	close_out();
	snap.dumper_name[0] = '\0';
	open_out();
	pf_format_threads(out, &snap, &style_27);
	ck_assert(strncmp(output(), "Current thread 0x00000000007f12ab (most",
			  39) == 0);
	close_out();
	free(snap.threads);
	free(file.chars);
	free(name.chars);
}
END_TEST

START_TEST(test_frame_limit)
{
	struct pf_text file = text_of("f.py"), name = text_of("r");
	struct pf_snapshot snap = one_thread(&file, &name, PF_MAX_FRAME_DEPTH);
	snap.threads[0].frames_truncated = true;
	open_out();
	pf_format_threads(out, &snap, &style_38);
	ck_assert(ends_with(output(), "line 100 in r\n  ...\n"));
	close_out();
	/* 3.13 stops silently. */
	open_out();
	pf_format_threads(out, &snap, &style_313);
	ck_assert(ends_with(output(), "line 100 in r\n"));
	close_out();
	free(snap.threads);
	free(file.chars);
	free(name.chars);
}
END_TEST

START_TEST(test_thread_limit_and_separators)
{
	struct pf_snapshot snap = {.nthreads = 2, .threads_truncated = true};
	snap.threads = calloc(2, sizeof *snap.threads);
	snap.threads[0].thread_id = 1;
	snap.threads[1].thread_id = 2;
	open_out();
	pf_format_threads(out, &snap, &style_313);
	ck_assert_str_eq(output(),
			 "Thread 0x0000000000000001 (most recent call first):\n"
			 "  <no Python frame>\n"
			 "\n"
			 "Thread 0x0000000000000002 (most recent call first):\n"
			 "  <no Python frame>\n"
			 "\n"
			 "...\n");
	close_out();
	free(snap.threads);
}
END_TEST

START_TEST(test_gc_line)
{
	struct pf_snapshot snap = one_thread(NULL, NULL, 0);
	snap.threads[0].is_current = true;
	snap.threads[0].gc_collecting = true;
	open_out();
	pf_format_threads(out, &snap, &style_313);
	ck_assert(strstr(output(), "):\n  Garbage-collecting\n  <no Python") !=
		  NULL);
	close_out();
	open_out();
	pf_format_threads(out, &snap, &style_38);
	ck_assert(strstr(output(), "Garbage") == NULL);
	close_out();
	free(snap.threads);
}
END_TEST

START_TEST(test_stack_only)
{
	struct pf_text file = text_of("a.py"), name = text_of("<module>");
	struct pf_snapshot snap = one_thread(&file, &name, 1);
	open_out();
	pf_format_stack(out, &snap.threads[0], &style_313);
	ck_assert_str_eq(output(), "Stack (most recent call first):\n"
				   "  File \"a.py\", line 1 in <module>\n");
	close_out();
	free(snap.threads);
	free(file.chars);
	free(name.chars);
}
END_TEST

START_TEST(test_fatal_headers)
{
	static const struct {
		int sig;
		bool hyphen;
		const char *text;
	} cases[] = {
		{SIGSEGV, false, "Fatal Python error: Segmentation fault\n\n"},
		{SIGFPE, false,
		 "Fatal Python error: Floating point exception\n\n"},
		{SIGFPE, true,
		 "Fatal Python error: Floating-point exception\n\n"},
		{SIGABRT, false, "Fatal Python error: Aborted\n\n"},
		{SIGBUS, false, "Fatal Python error: Bus error\n\n"},
		{SIGILL, false, "Fatal Python error: Illegal instruction\n\n"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct pf_style style = {.fpe_hyphenated = cases[i].hyphen};
		open_out();
		ck_assert(pf_format_fatal_header(out, cases[i].sig, &style));
		ck_assert_str_eq(output(), cases[i].text);
		close_out();
	}
	struct pf_style style = {0};
	open_out();
	ck_assert(!pf_format_fatal_header(out, SIGTERM, &style));
	ck_assert_str_eq(output(), "");
	close_out();
}
END_TEST

/* dump_traceback_later(SECONDS)'s header, as printed by CPython 3.6.15
 * (truncated; 2.7's backport, for the ints it accepts, alike) and 3.7.16
 * and 3.11 (rounded up). */
struct timeout_case {
	double seconds;
	const char *truncated, *rounded_up;
};

static const struct timeout_case timeouts[] = {
	{0.1234567, "0:00:00.123456", "0:00:00.123457"},
	{2.000001, "0:00:02.000001", "0:00:02.000002"},
	{0.9999999, "0:00:00.999999", "0:00:01"},
	{0.0000015, "0:00:00.000001", "0:00:00.000002"},
	{1.0000005, "0:00:01", "0:00:01.000001"},
	{1e-6, "0:00:00.000001", "0:00:00.000001"},
	{1.1, "0:00:01.100000", "0:00:01.100000"},
	{0.3, "0:00:00.300000", "0:00:00.300000"},
	{0.5, "0:00:00.500000", "0:00:00.500000"},
	{60, "0:01:00", "0:01:00"},
	{3661.5, "1:01:01.500000", "1:01:01.500000"},
	{360000, "100:00:00", "100:00:00"},
};

static void check_timeout(double seconds, enum pf_timeout_text text,
			  const char *want)
{
	char line[64];
	snprintf(line, sizeof line, "Timeout (%s)!\n", want);
	open_out();
	pf_format_timeout_header(out, seconds, text);
	ck_assert_str_eq(output(), line);
	close_out();
}

START_TEST(test_timeout_header)
{
	for (size_t i = 0; i < sizeof timeouts / sizeof *timeouts; i++) {
		check_timeout(timeouts[i].seconds, PF_TIMEOUT_TRUNCATED,
			      timeouts[i].truncated);
		check_timeout(timeouts[i].seconds, PF_TIMEOUT_ROUNDED_UP,
			      timeouts[i].rounded_up);
	}
}
END_TEST

START_TEST(test_extension_modules)
{
	struct pf_module_list none = {0};
	open_out();
	pf_format_extension_modules(out, &none);
	ck_assert_str_eq(output(), "");
	close_out();

	struct pf_text names[3] = {text_of("pfext"), text_of("a\xe9"),
				   text_of("LLL")};
	names[1].chars[1] = 0x65e5;
	names[2].truncated = true;
	struct pf_module_list one = {.count = 1, .names = names};
	open_out();
	pf_format_extension_modules(out, &one);
	ck_assert_str_eq(output(), "\nExtension modules: pfext (total: 1)\n");
	close_out();

	struct pf_module_list three = {.count = 3, .names = names};
	open_out();
	pf_format_extension_modules(out, &three);
	ck_assert_str_eq(output(), "\nExtension modules: pfext, a\\u65e5, "
				   "LLL... (total: 3)\n");
	close_out();
	for (int i = 0; i < 3; i++)
		free(names[i].chars);
}
END_TEST

/* Lines that repeat, across frames and threads, are the lines each frame
 * gives alone (pf_format_stack formats every frame afresh): lines longer
 * than what is kept of one, the same text in two objects, lines split
 * by the writes of a long thread. */
START_TEST(test_repeated_frames)
{
	char long_path[401];
	memset(long_path, 'p', 400);
	long_path[400] = '\0';
	struct pf_text texts[4] = {text_of("a.py"), text_of("a.py"),
				   text_of(long_path), text_of("f")};
	struct pf_snapshot snap = {.nthreads = 3};
	snap.threads = calloc(3, sizeof *snap.threads);
	char *expected = NULL;
	size_t expected_size;
	FILE *want = open_memstream(&expected, &expected_size);
	for (size_t t = 0; t < 3; t++) {
		struct pf_thread_dump *th = &snap.threads[t];
		th->thread_id = t + 1;
		th->nframes = PF_MAX_FRAME_DEPTH;
		for (size_t i = 0; i < th->nframes; i++)
			th->frames[i] = (struct pf_frame){
				.filename = &texts[(i + t) % 3],
				.name = &texts[3],
				.lineno = (int)(i % 4) * 1000};
		open_out();
		pf_format_stack(out, th, &style_313);
		fprintf(want, "%sThread 0x%016zx (most recent call first):\n%s",
			t ? "\n" : "", t + 1, strchr(output(), '\n') + 1);
		close_out();
	}
	fclose(want);
	open_out();
	pf_format_threads(out, &snap, &style_313);
	ck_assert_str_eq(output(), expected);
	close_out();
	free(expected);
	free(snap.threads);
	for (int i = 0; i < 4; i++)
		free(texts[i].chars);
}
END_TEST

static Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("faulthandler text");
	tcase_add_test(tc, test_escaping);
	tcase_add_test(tc, test_escaping_bytes);
	tcase_add_test(tc, test_thread_name_suffix);
	tcase_add_test(tc, test_truncation_marker);
	tcase_add_test(tc, test_thread_header_and_frames);
	tcase_add_test(tc, test_unknowns);
	tcase_add_test(tc, test_invalid_frame);
	tcase_add_test(tc, test_no_python_frame);
	tcase_add_test(tc, test_frame_limit);
	tcase_add_test(tc, test_repeated_frames);
	tcase_add_test(tc, test_thread_limit_and_separators);
	tcase_add_test(tc, test_gc_line);
	tcase_add_test(tc, test_stack_only);
	tcase_add_test(tc, test_fatal_headers);
	tcase_add_test(tc, test_timeout_header);
	tcase_add_test(tc, test_extension_modules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(format_suite());
}
