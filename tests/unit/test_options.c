#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "attach_options.h"

static bool parse(struct attach_options *opt, pid_t *pids, char *why,
		  int argc, char **argv)
{
	return attach_parse_args(argc, argv, opt, pids, why, 128);
}

#define ARGV(...) ((char *[]){"pyfault-attach", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof ARGV(__VA_ARGS__) / sizeof(char *)) - 1)
#define PARSE(...) parse(&opt, pids, why, ARGC(__VA_ARGS__), ARGV(__VA_ARGS__))

START_TEST(test_pids_and_options)
{
	struct attach_options opt;
	pid_t pids[8];
	char why[128];
	ck_assert(PARSE("-v", "--current-thread-only", "-o", "out.txt", "12",
			"345"));
	ck_assert(opt.verbose);
	ck_assert(opt.current_thread_only);
	ck_assert_str_eq(opt.output, "out.txt");
	ck_assert_uint_eq(opt.npids, 2);
	ck_assert_int_eq(pids[0], 12);
	ck_assert_int_eq(pids[1], 345);
	ck_assert(PARSE("--output=x", "7"));
	ck_assert_str_eq(opt.output, "x");
	ck_assert(!opt.verbose);
}
END_TEST

START_TEST(test_help_and_version)
{
	struct attach_options opt;
	pid_t pids[8];
	char why[128];
	ck_assert(PARSE("--help"));
	ck_assert(opt.help);
	ck_assert(PARSE("--version"));
	ck_assert(opt.version);
}
END_TEST

START_TEST(test_errors)
{
	struct attach_options opt;
	pid_t pids[8];
	char why[128];
	ck_assert(!PARSE("-v"));
	ck_assert_str_eq(why, "missing PID");
	ck_assert(!PARSE("12x"));
	ck_assert_str_eq(why, "'12x' is not a process id");
	ck_assert(!PARSE("0"));
	ck_assert(!PARSE("-5"));
	ck_assert(!PARSE("99999999999"));
	ck_assert(!PARSE("--bogus", "1"));
	ck_assert_str_eq(why, "invalid option '--bogus'");
	ck_assert(!PARSE("1", "-o"));
	ck_assert(!PARSE("-o"));
	ck_assert_str_eq(why, "option '-o' needs an argument");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("attach");
	tcase_add_test(tc, test_pids_and_options);
	tcase_add_test(tc, test_help_and_version);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
