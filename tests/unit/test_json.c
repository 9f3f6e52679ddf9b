/* The JSON document (dump_json.c), the --status header (status_format.c)
 * and the signal details (dump_reason.c), from synthetic snapshots: each
 * document is parsed back with json-c and its members checked. */
#include <check.h>
#include <json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "format/dump_json.h"
#include "format/dump_reason.h"
#include "format/status_format.h"
#include "format/syscall_names.h"
#include "output_capture.h"
#include "check_run.h"

static const struct pf_json_process process = {
	.pid = 4242,
	.executable = "/usr/bin/python3.11",
	.interpreter = "/usr/bin/python3.11",
	.major = 3, .minor = 11, .micro = 2, .micro_known = true,
	.offsets_source = "DWARF",
	.offsets_detail = "/usr/lib/debug/x.debug",
};

/* Two threads: the current one with a Python frame and two symbolized C
 * frames, another in read() with a frame whose file is not a str. */
struct fixture {
	struct pf_text file, name, odd_name;
	struct pf_thread_dump threads[2];
	struct pf_native_frame native[2];
	struct pf_snapshot snap;
};

static const struct pf_text not_a_str = {.present = false};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof *f);
	f->file = text_of("/srv/app \"x\"\\y.py");
	f->name = text_of("handler\n");
	f->odd_name = text_of("<lambda>");
	f->native[0] = (struct pf_native_frame){
		.pc = 0x7f0000001234,
		.object = "/srv/ext.so",
		.symbol = "crash_here",
		.symbol_offset = 0x14,
		.source_file = "ext.c",
		.source_line = 12,
	};
	f->native[1] = (struct pf_native_frame){.pc = 0xdeadbeef};
	struct pf_thread_dump *t = &f->threads[0];
	t->thread_id = 0x7f00000000aa;
	t->tid = 100;
	t->is_current = true;
	t->nframes = 1;
	t->frames[0] = (struct pf_frame){
		.filename = &f->file, .name = &f->name, .lineno = 7};
	t->nnative = 2;
	t->native = f->native;
	t->status = (struct pf_thread_status){
		.collected = true, .name = "main", .holds_gil = true,
		.state = PF_STATE_RUNNING};
	t = &f->threads[1];
	t->thread_id = 0x7f00000000bb;
	t->tid = 101;
	t->nframes = 1;
	t->frames[0] = (struct pf_frame){
		.filename = &not_a_str, .name = &f->odd_name, .lineno = -1};
	t->status = (struct pf_thread_status){
		.collected = true, .name = "reader\xff", .state = PF_STATE_SYSCALL,
		.syscall_nr = SYS_read, .syscall_args = {3, 0x10, 1}};
	f->snap.nthreads = 2;
	f->snap.threads = f->threads;
}

static void fixture_free(struct fixture *f)
{
	free(f->file.chars);
	free(f->name.chars);
	free(f->odd_name.chars);
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;
	ck_assert_msg(json_object_object_get_ex(o, key, &v), "no member %s",
		      key);
	return v;
}

static const char *string_member(json_object *o, const char *key)
{
	json_object *v = member(o, key);
	ck_assert_msg(json_object_is_type(v, json_type_string),
		      "%s is not a string", key);
	return json_object_get_string(v);
}

static void assert_null(json_object *o, const char *key)
{
	ck_assert_msg(member(o, key) == NULL, "%s is not null", key);
}

/* Writes the fixture's document and parses it back; one line. */
static json_object *document_of(const struct pf_dump_reason *reason,
				const struct pf_snapshot *snap,
				bool current_only)
{
	open_out();
	ck_assert(pf_write_json(out, "pyfault-test", &process, reason, snap,
				current_only));
	const char *text = output();
	char *newline = strchr(text, '\n');
	ck_assert_msg(newline != NULL && newline[1] == '\0',
		      "not one line: %s", text);
	json_object *doc = json_tokener_parse(text);
	ck_assert_msg(doc != NULL, "invalid JSON: %s", text);
	close_out();
	return doc;
}

START_TEST(test_document)
{
	struct fixture f;
	fixture_init(&f);
	struct pf_dump_reason reason = {.kind = PF_REASON_ATTACH};
	json_object *doc = document_of(&reason, &f.snap, false);

	ck_assert_int_eq(json_object_get_int(member(doc, "schema_version")),
			 PF_JSON_SCHEMA_VERSION);
	ck_assert_str_eq(string_member(doc, "tool"), "pyfault-test");
	json_object *p = member(doc, "process");
	ck_assert_int_eq(json_object_get_int(member(p, "pid")), 4242);
	ck_assert_str_eq(string_member(p, "python_version"), "3.11.2");
	ck_assert_str_eq(string_member(p, "offsets_source"), "DWARF");
	json_object *r = member(doc, "reason");
	ck_assert_str_eq(string_member(r, "kind"), "attach");
	assert_null(r, "signal");
	assert_null(r, "timeout_seconds");

	json_object *threads = member(doc, "threads");
	ck_assert_int_eq((int)json_object_array_length(threads), 2);
	json_object *t0 = json_object_array_get_idx(threads, 0);
	ck_assert_uint_eq(json_object_get_uint64(member(t0, "thread_id")),
			  0x7f00000000aa);
	ck_assert_int_eq(json_object_get_int(member(t0, "tid")), 100);
	ck_assert_str_eq(string_member(t0, "name"), "main");
	ck_assert(json_object_get_boolean(member(t0, "current")));
	ck_assert(json_object_get_boolean(member(t0, "holds_gil")));
	ck_assert_str_eq(string_member(t0, "state"), "running");
	assert_null(t0, "syscall");
	json_object *frame =
		json_object_array_get_idx(member(t0, "frames"), 0);
	ck_assert_str_eq(string_member(frame, "file"),
			 "/srv/app \"x\"\\y.py");
	ck_assert_str_eq(string_member(frame, "name"), "handler\n");
	ck_assert_int_eq(json_object_get_int(member(frame, "line")), 7);

	json_object *t1 = json_object_array_get_idx(threads, 1);
	ck_assert(!json_object_get_boolean(member(t1, "current")));
	ck_assert_str_eq(string_member(t1, "name"), "reader\\xff");
	ck_assert_str_eq(string_member(t1, "state"), "syscall");
	json_object *sc = member(t1, "syscall");
	ck_assert_str_eq(string_member(sc, "name"), "read");
	ck_assert_int_eq(json_object_get_int(member(sc, "number")), SYS_read);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(
				 member(sc, "args"), 1)),
			 "0x10");
	frame = json_object_array_get_idx(member(t1, "frames"), 0);
	assert_null(frame, "file");
	assert_null(frame, "line");
	ck_assert_str_eq(string_member(frame, "name"), "<lambda>");
	ck_assert_int_eq(
		(int)json_object_array_length(member(t1, "native_frames")), 0);
	ck_assert(!json_object_get_boolean(member(doc, "current_thread_only")));
	json_object_put(doc);

	/* Only the current thread. */
	doc = document_of(&reason, &f.snap, true);
	ck_assert(json_object_get_boolean(member(doc, "current_thread_only")));
	ck_assert_int_eq((int)json_object_array_length(member(doc, "threads")),
			 1);
	json_object_put(doc);
	fixture_free(&f);
}
END_TEST

START_TEST(test_native_frames)
{
	struct fixture f;
	fixture_init(&f);
	struct pf_dump_reason reason = {.kind = PF_REASON_ATTACH};
	json_object *doc = document_of(&reason, &f.snap, false);
	json_object *t0 = json_object_array_get_idx(member(doc, "threads"), 0);
	json_object *native = member(t0, "native_frames");
	ck_assert_int_eq((int)json_object_array_length(native), 2);
	json_object *n0 = json_object_array_get_idx(native, 0);
	ck_assert_str_eq(string_member(n0, "address"), "0x7f0000001234");
	ck_assert_str_eq(string_member(n0, "object"), "/srv/ext.so");
	ck_assert_str_eq(string_member(n0, "symbol"), "crash_here");
	ck_assert_int_eq(json_object_get_int(member(n0, "offset")), 0x14);
	ck_assert_str_eq(string_member(n0, "file"), "ext.c");
	ck_assert_int_eq(json_object_get_int(member(n0, "line")), 12);
	/* Anonymous memory, no symbol, no DWARF: only the address. */
	json_object *n1 = json_object_array_get_idx(native, 1);
	ck_assert_str_eq(string_member(n1, "address"), "0xdeadbeef");
	assert_null(n1, "object");
	assert_null(n1, "symbol");
	assert_null(n1, "offset");
	assert_null(n1, "file");
	assert_null(n1, "line");
	json_object_put(doc);
	fixture_free(&f);
}
END_TEST

START_TEST(test_reasons)
{
	struct fixture f;
	fixture_init(&f);
	siginfo_t info = {.si_signo = SIGSEGV, .si_code = SEGV_MAPERR};
	struct pf_dump_reason reason = {.kind = PF_REASON_FATAL_SIGNAL};
	pf_reason_set_siginfo(&reason, &info);
	json_object *doc = document_of(&reason, &f.snap, false);
	json_object *r = member(doc, "reason");
	ck_assert_str_eq(string_member(r, "kind"), "fatal_signal");
	json_object *sig = member(r, "signal");
	ck_assert_int_eq(json_object_get_int(member(sig, "number")), SIGSEGV);
	ck_assert_str_eq(string_member(sig, "name"), "SIGSEGV");
	ck_assert_int_eq(json_object_get_int(member(sig, "code")),
			 SEGV_MAPERR);
	ck_assert_str_eq(string_member(sig, "code_name"), "SEGV_MAPERR");
	ck_assert_str_eq(string_member(sig, "address"), "0x0");
	assert_null(sig, "sender_pid");
	json_object_put(doc);

	/* A signal sent by a process: its pid, no address. */
	info = (siginfo_t){.si_signo = SIGUSR2, .si_code = SI_TKILL};
	info.si_pid = 77;
	reason = (struct pf_dump_reason){.kind = PF_REASON_SIGNAL};
	pf_reason_set_siginfo(&reason, &info);
	doc = document_of(&reason, &f.snap, false);
	sig = member(member(doc, "reason"), "signal");
	ck_assert_str_eq(string_member(sig, "name"), "SIGUSR2");
	ck_assert_str_eq(string_member(sig, "code_name"), "SI_TKILL");
	ck_assert_int_eq(json_object_get_int(member(sig, "sender_pid")), 77);
	assert_null(sig, "address");
	json_object_put(doc);

	reason = (struct pf_dump_reason){.kind = PF_REASON_TIMEOUT,
					 .timeout_seconds = 1.5};
	doc = document_of(&reason, &f.snap, false);
	r = member(doc, "reason");
	ck_assert_str_eq(string_member(r, "kind"), "timeout");
	ck_assert(json_object_get_double(member(r, "timeout_seconds")) == 1.5);
	assert_null(r, "signal");
	json_object_put(doc);
	fixture_free(&f);
}
END_TEST

START_TEST(test_text_strings)
{
	/* UTF-8 for every code point, lone surrogates as Python's
	 * backslashreplace writes them, "..." after a cut. */
	uint32_t chars[] = {'a', 0, 0xe9, 0x65e5, 0x1f600, 0xdc80, 0xd800};
	struct pf_text t = {.present = true, .truncated = true, .length = 7,
			    .chars = chars};
	char *utf8;
	size_t len;
	ck_assert(pf_json_text_utf8(&t, &utf8, &len));
	static const char want[] = "a\0\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80"
				   "\\udc80\\ud800...";
	ck_assert_uint_eq(len, sizeof want - 1);
	ck_assert(memcmp(utf8, want, len) == 0);
	free(utf8);

	/* The NUL and control characters survive the JSON escaping. */
	struct fixture f;
	fixture_init(&f);
	struct pf_text name = {.present = true, .length = 7, .chars = chars};
	f.threads[0].frames[0].name = &name;
	struct pf_dump_reason reason = {.kind = PF_REASON_ATTACH};
	json_object *doc = document_of(&reason, &f.snap, false);
	json_object *frame = json_object_array_get_idx(
		member(json_object_array_get_idx(member(doc, "threads"), 0),
		       "frames"),
		0);
	json_object *v = member(frame, "name");
	ck_assert_int_eq(json_object_get_string_len(v), 23);
	ck_assert(memcmp(json_object_get_string(v), want, 23) == 0);
	json_object_put(doc);
	fixture_free(&f);
}
END_TEST

START_TEST(test_byte_strings)
{
	char *utf8;
	size_t len;
	/* Valid UTF-8 kept; stray, overlong and surrogate encodings as
	 * \xNN per byte. */
	ck_assert(pf_json_bytes_utf8("\xc3\xa9-\xff-\xc0\xaf-\xed\xa0\x80-"
				     "\xf0\x9f\x98\x80-\xe6\x97",
				     &utf8, &len));
	ck_assert_str_eq(utf8, "\xc3\xa9-\\xff-\\xc0\\xaf-\\xed\\xa0\\x80-"
			       "\xf0\x9f\x98\x80-\\xe6\\x97");
	ck_assert_uint_eq(len, strlen(utf8));
	free(utf8);
}
END_TEST

START_TEST(test_signal_details)
{
	ck_assert_str_eq(pf_si_code_name(SIGSEGV, SEGV_ACCERR), "SEGV_ACCERR");
	ck_assert_str_eq(pf_si_code_name(SIGBUS, BUS_ADRERR), "BUS_ADRERR");
	ck_assert_str_eq(pf_si_code_name(SIGFPE, FPE_INTDIV), "FPE_INTDIV");
	ck_assert_str_eq(pf_si_code_name(SIGILL, ILL_ILLOPN), "ILL_ILLOPN");
	ck_assert_str_eq(pf_si_code_name(SIGSEGV, SI_KERNEL), "SI_KERNEL");
	ck_assert_str_eq(pf_si_code_name(SIGABRT, SI_TKILL), "SI_TKILL");
	ck_assert_ptr_null(pf_si_code_name(SIGSEGV, 999));

	siginfo_t info = {.si_signo = SIGBUS, .si_code = BUS_ADRALN};
	info.si_addr = (void *)0x1001;
	struct pf_dump_reason reason = {.kind = PF_REASON_FATAL_SIGNAL};
	pf_reason_set_siginfo(&reason, &info);
	open_out();
	pf_format_signal_details(out, &reason);
	ck_assert_str_eq(output(), "SIGBUS, BUS_ADRALN at 0x1001");
	close_out();

	info = (siginfo_t){.si_signo = SIGABRT, .si_code = SI_TKILL};
	info.si_pid = 5;
	reason = (struct pf_dump_reason){.kind = PF_REASON_FATAL_SIGNAL};
	pf_reason_set_siginfo(&reason, &info);
	open_out();
	pf_format_signal_details(out, &reason);
	ck_assert_str_eq(output(), "SIGABRT, SI_TKILL from process 5");
	close_out();
}
END_TEST

START_TEST(test_status_header)
{
	struct fixture f;
	fixture_init(&f);
	f.threads[1].tid = 0;
	open_out();
	pf_format_status(out, &f.snap, false);
	ck_assert_str_eq(output(),
			 "Thread status:\n"
			 "  Thread 0x00007f00000000aa: tid 100 \"main\": "
			 "holds the GIL, running\n"
			 "  Thread 0x00007f00000000bb: tid ? \"reader\\xff\": "
			 "in read()\n"
			 "\n");
	close_out();

	f.threads[0].status.holds_gil = false;
	f.threads[0].status.state = PF_STATE_GIL_WAIT;
	f.threads[0].status.syscall_nr = SYS_futex;
	open_out();
	pf_format_status(out, &f.snap, true);
	ck_assert_str_eq(output(),
			 "Thread status:\n"
			 "  Thread 0x00007f00000000aa: tid 100 \"main\": "
			 "waiting for the GIL\n"
			 "\n");
	close_out();
	fixture_free(&f);
}
END_TEST

START_TEST(test_syscall_names)
{
	ck_assert_str_eq(pf_syscall_name(SYS_read), "read");
	ck_assert_str_eq(pf_syscall_name(SYS_futex), "futex");
	ck_assert_str_eq(pf_syscall_name(SYS_restart_syscall),
			 "restart_syscall");
	ck_assert_str_eq(pf_syscall_name(SYS_pselect6), "pselect6");
	ck_assert_ptr_null(pf_syscall_name(-1));
	ck_assert_ptr_null(pf_syscall_name(100000));
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc = tcase_create("documents and status");
	tcase_add_test(tc, test_document);
	tcase_add_test(tc, test_native_frames);
	tcase_add_test(tc, test_reasons);
	tcase_add_test(tc, test_text_strings);
	tcase_add_test(tc, test_byte_strings);
	tcase_add_test(tc, test_signal_details);
	tcase_add_test(tc, test_status_header);
	tcase_add_test(tc, test_syscall_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(json_suite());
}
