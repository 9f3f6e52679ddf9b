/* The message and status chosen for each reason the kernel may refuse
 * ptrace, from facts set by hand: Yama's scopes cannot be set on every
 * machine that runs the tests. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "process/trace_refusal.h"
#include "check_run.h"

static struct pf_trace_facts plain(void)
{
	return (struct pf_trace_facts){
		.pid = 4242, .yama_scope = -1, .own_uid = 1000,
		.target_uid = 1000};
}

static enum pf_status refuse(const struct pf_trace_facts *f,
			     struct pf_error *err)
{
	*err = (struct pf_error){0};
	enum pf_status st = pf_trace_refused(f, err);
	ck_assert_int_eq(st, err->status);
	ck_assert_ptr_null(strchr(err->message, '\n'));
	return st;
}

#define ck_assert_mentions(err, text) \
	ck_assert_msg(strstr((err).message, (text)) != NULL, \
		      "%s: no \"%s\"", (err).message, (text))

START_TEST(test_another_tracer)
{
	struct pf_trace_facts f = plain();
	struct pf_error err;
	f.tracer_pid = 77;
	strcpy(f.tracer_name, "gdb");
	f.yama_scope = 3;       /* the tracer is the better explanation */
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_TRACED);
	ck_assert_mentions(err, "already traced by gdb (process 77)");
	ck_assert_mentions(err, "detach it first");
}
END_TEST

START_TEST(test_yama_scopes)
{
	struct pf_trace_facts f = plain();
	struct pf_error err;
	f.yama_scope = 3;
	f.privileged = true;    /* not even root */
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_YAMA);
	ck_assert_mentions(err, "ptrace_scope is 3");
	ck_assert_mentions(err, "reboot");

	f = plain();
	f.yama_scope = 2;
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_YAMA);
	ck_assert_mentions(err, "ptrace_scope is 2");
	ck_assert_mentions(err, "run pyfault as root or give it CAP_SYS_PTRACE");

	f = plain();
	f.yama_scope = 1;
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_YAMA);
	ck_assert_mentions(err, "ptrace_scope is 1");
	ck_assert_mentions(err, "set kernel.yama.ptrace_scope to 0");
}
END_TEST

START_TEST(test_scope_zero_or_privileged)
{
	/* Scope 0, or scopes 1-2 for a privileged pyfault: Yama is not the
	 * cause, and must not be named. */
	int scopes[] = {-1, 0, 1, 2};
	for (size_t i = 0; i < sizeof scopes / sizeof *scopes; i++) {
		struct pf_trace_facts f = plain();
		struct pf_error err;
		f.yama_scope = scopes[i];
		f.privileged = scopes[i] > 0;
		ck_assert_int_eq(refuse(&f, &err), PF_ERR_PERMISSION);
		ck_assert_mentions(err, "security module");
		ck_assert_ptr_null(strstr(err.message, "ptrace_scope"));
	}
}
END_TEST

START_TEST(test_changed_ids)
{
	struct pf_trace_facts f = plain();
	struct pf_error err;
	f.ids_changed = true;
	f.other_user = true;
	f.target_uid = 0;
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_IDS_CHANGED);
	ck_assert_mentions(err, "set-user-ID");
	ck_assert_mentions(err, "run pyfault as root");
	f.yama_scope = 2;
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_YAMA);
}
END_TEST

START_TEST(test_other_user)
{
	struct pf_trace_facts f = plain();
	struct pf_error err;
	f.other_user = true;
	f.target_uid = 0;
	f.own_uid = 65534;
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_PERMISSION);
	ck_assert_mentions(err, "runs as user 0 and pyfault as user 65534");
	f.yama_scope = 1;       /* its own user would still be refused */
	ck_assert_int_eq(refuse(&f, &err), PF_ERR_PERMISSION);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("trace_refusal");
	TCase *tc = tcase_create("messages");
	tcase_add_test(tc, test_another_tracer);
	tcase_add_test(tc, test_yama_scopes);
	tcase_add_test(tc, test_scope_zero_or_privileged);
	tcase_add_test(tc, test_changed_ids);
	tcase_add_test(tc, test_other_user);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
