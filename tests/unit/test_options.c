#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "attach/attach_options.h"
#include "watch/watch_options.h"
#include "check_run.h"

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
	ck_assert(opt.common.verbose);
	ck_assert(opt.common.current_thread_only);
	ck_assert_str_eq(opt.common.output, "out.txt");
	ck_assert_uint_eq(opt.npids, 2);
	ck_assert_int_eq(pids[0], 12);
	ck_assert_int_eq(pids[1], 345);
	ck_assert(PARSE("--output=x", "7"));
	ck_assert_str_eq(opt.common.output, "x");
	ck_assert(!opt.common.verbose);
}
END_TEST

START_TEST(test_help_and_version)
{
	struct attach_options opt;
	pid_t pids[8];
	char why[128];
	ck_assert(PARSE("--help"));
	ck_assert(opt.common.help);
	ck_assert(PARSE("--version"));
	ck_assert(opt.common.version);
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

/* The microseconds faulthandler.dump_traceback_later() prints for the same
 * float, checked against CPython 3.8, 3.11 and 3.13. */
START_TEST(test_timeout_rounding)
{
	uint64_t us;
	double s;
	ck_assert(watch_parse_timeout("1.1", &s, &us));
	ck_assert_uint_eq(us, 1100000);
	ck_assert(s == 1.1);
	ck_assert(watch_parse_timeout("2.000001", &s, &us));
	ck_assert_uint_eq(us, 2000002);
	ck_assert(watch_parse_timeout("0.3", &s, &us));
	ck_assert_uint_eq(us, 300000);
	ck_assert(watch_parse_timeout("60", &s, &us));
	ck_assert_uint_eq(us, 60000000);
	ck_assert(watch_parse_timeout("1e-6", &s, &us));
	ck_assert_uint_eq(us, 1);
	ck_assert(watch_parse_timeout("0.1234567", &s, &us));
	ck_assert_uint_eq(us, 123457);
	ck_assert(s == 0.1234567);
	ck_assert(!watch_parse_timeout("0", &s, &us));
	ck_assert(!watch_parse_timeout("-1", &s, &us));
	ck_assert(!watch_parse_timeout("nan", &s, &us));
	ck_assert(!watch_parse_timeout("5s", &s, &us));
	ck_assert(!watch_parse_timeout("", &s, &us));
}
END_TEST

static bool parse_watch(struct watch_options *opt, char *why, int argc,
			char **argv)
{
	return watch_parse_args(argc, argv, opt, why, 128);
}

#define WARGV(...) ((char *[]){"pyfault-watch", __VA_ARGS__, NULL})
#define WPARSE(...)                                                          \
	parse_watch(&wopt, why, ARGC(__VA_ARGS__), WARGV(__VA_ARGS__))

START_TEST(test_watch_args)
{
	struct watch_options wopt;
	char why[128];
	ck_assert(WPARSE("-t", "2.5", "--repeat", "--", "python3", "-X",
			 "dev", "s.py"));
	ck_assert_uint_eq(wopt.timeout_us, 2500000);
	ck_assert(wopt.repeat);
	ck_assert_str_eq(wopt.command[0], "python3");
	ck_assert_str_eq(wopt.command[1], "-X");
	ck_assert_ptr_null(wopt.command[4]);
	/* The command's own options are not pyfault's. */
	ck_assert(WPARSE("python3", "-v", "s.py"));
	ck_assert(!wopt.common.verbose);
	ck_assert_str_eq(wopt.command[1], "-v");
	ck_assert(!WPARSE("-t", "0", "python3"));
	ck_assert(!WPARSE("--exit", "python3"));
	ck_assert_str_eq(why, "--repeat and --exit need --timeout");
	ck_assert(!WPARSE("-v"));
	ck_assert_str_eq(why, "missing command");
	ck_assert(WPARSE("--signal", "USR2", "--signal=SIGHUP", "--chain",
			 "--no-follow", "python3"));
	ck_assert_uint_eq(wopt.dump_signals,
			  (1ull << (SIGUSR2 - 1)) | (1ull << (SIGHUP - 1)));
	ck_assert(wopt.chain);
	ck_assert(!wopt.follow);
	ck_assert(WPARSE("python3"));
	ck_assert(wopt.follow);
	ck_assert(!WPARSE("--chain", "python3"));
	ck_assert_str_eq(why, "--chain needs --signal");
	ck_assert(!WPARSE("--signal", "SEGV", "python3"));
	ck_assert_str_eq(why, "cannot dump on signal 'SEGV'");
}
END_TEST

START_TEST(test_native_views)
{
	struct attach_options opt;
	pid_t pids[8];
	char why[128];
	ck_assert(PARSE("7"));
	ck_assert_int_eq(opt.common.native, PF_NATIVE_DEFAULT);
	ck_assert(PARSE("--native", "7"));
	ck_assert_int_eq(opt.common.native, PF_NATIVE_SECTION);
	ck_assert(PARSE("--native=section", "7"));
	ck_assert_int_eq(opt.common.native, PF_NATIVE_SECTION);
	ck_assert(PARSE("--native=merged", "7"));
	ck_assert_int_eq(opt.common.native, PF_NATIVE_MERGED);
	ck_assert(PARSE("--native=merged", "--no-native", "7"));
	ck_assert_int_eq(opt.common.native, PF_NATIVE_NONE);
	ck_assert(!PARSE("--native=both", "7"));
	ck_assert_str_eq(why, "unknown --native value 'both' (section or "
			      "merged)");
	struct watch_options wopt;
	ck_assert(WPARSE("--native=merged", "--", "python3"));
	ck_assert_int_eq(wopt.common.native, PF_NATIVE_MERGED);
}
END_TEST

START_TEST(test_signal_names)
{
	ck_assert_int_eq(watch_parse_signal("USR1"), SIGUSR1);
	ck_assert_int_eq(watch_parse_signal("SIGTERM"), SIGTERM);
	ck_assert_int_eq(watch_parse_signal("12"), 12);
	ck_assert_int_eq(watch_parse_signal("KILL"), 0);
	ck_assert_int_eq(watch_parse_signal("SIGSTOP"), 0);
	ck_assert_int_eq(watch_parse_signal("CHLD"), 0);
	ck_assert_int_eq(watch_parse_signal("ILL"), 0);
	ck_assert_int_eq(watch_parse_signal("NOPE"), 0);
	ck_assert_int_eq(watch_parse_signal("0"), 0);
	ck_assert_int_eq(watch_parse_signal("999"), 0);
	/* kill(1)'s names besides glibc's, and the old names of refused
	 * signals, refused too. */
	ck_assert_int_eq(watch_parse_signal("IO"), SIGIO);
	ck_assert_int_eq(watch_parse_signal("SIGIO"), SIGIO);
	ck_assert_int_eq(watch_parse_signal("POLL"), SIGIO);
	ck_assert_int_eq(watch_signal_number("IOT"), SIGABRT);
	ck_assert_int_eq(watch_parse_signal("IOT"), 0);
	ck_assert_int_eq(watch_signal_number("SIGCLD"), SIGCHLD);
	ck_assert_int_eq(watch_parse_signal("CLD"), 0);
	ck_assert_int_eq(watch_signal_number("NOPE"), 0);
	ck_assert_int_eq(watch_signal_number("io"), 0);
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
	TCase *watch = tcase_create("watch");
	tcase_add_test(watch, test_timeout_rounding);
	tcase_add_test(watch, test_watch_args);
	tcase_add_test(watch, test_signal_names);
	tcase_add_test(watch, test_native_views);
	suite_add_tcase(s, watch);
	return pf_check_run(s);
}
