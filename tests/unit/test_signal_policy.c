/* pyfault-watch stops beside its program when the shell must see the job
 * stopped.  The terminal sends its SIGTSTP or SIGTTIN to the whole job,
 * so pyfault-watch's own copy may still be pending when it stops like
 * its program: it must stop once, and one SIGCONT (fg) must end that.
 * Each case runs the stop in a job of a session that holds a
 * pseudo-terminal, which counts the job's stops. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "watch/signal_policy.h"
#include "check_run.h"

/* This program: the session runs afresh by exec, outside Check and
 * valgrind, as a shell's jobs do. */
static const char *self;

/* The job: in a process group of its own under the session leader, so
 * that stop signals stop it (the group is not orphaned) and /dev/tty is
 * the session's terminal.  SIGTTIN stands for both signals: it stops a
 * job in the background too. */
static void job_main(bool copy_pending)
{
	setpgid(0, 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTTIN);
	/* pyfault-watch reads the signals sent to it through a signalfd. */
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (copy_pending)
		kill(getpid(), SIGTTIN);
	struct watch w = {.child = getpid()};
	struct process p = {.pid = getpid()};
	watch_group_stop(&w, &p, getpid(), SIGTTIN);
	_exit(0);
}

/* The session leader: its exit status is the number of times the job
 * stopped, each stop ended by a SIGCONT; 100 and up on a failure. */
static int session_main(bool copy_pending)
{
	if (setsid() < 0)
		return 100;
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0)
		return 101;
	/* The first terminal a session leader opens becomes its own. */
	int terminal = open(ptsname(master), O_RDWR);
	if (terminal < 0)
		return 102;
	pid_t job = fork();
	if (job < 0)
		return 103;
	if (job == 0)
		job_main(copy_pending);
	int stops = 0, status;
	while (waitpid(job, &status, WUNTRACED) == job) {
		if (!WIFSTOPPED(status)) {
			bool ended_alone = WIFEXITED(status) &&
					   WEXITSTATUS(status) == 0;
			return ended_alone || stops > 1 ? stops : 104;
		}
		/* Stopped once more after fg: as a shell sees it, for good. */
		kill(job, ++stops > 1 ? SIGKILL : SIGCONT);
	}
	return 105;
}

static int stops_of_a_job(bool copy_pending)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		execl(self, self, "--session", copy_pending ? "1" : "0",
		      (char *)NULL);
		_exit(127);
	}
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(test_stops_once)
{
	ck_assert_int_eq(stops_of_a_job(false), 1);
}
END_TEST

START_TEST(test_stops_once_with_its_copy_pending)
{
	ck_assert_int_eq(stops_of_a_job(true), 1);
}
END_TEST

int main(int argc, char **argv)
{
	self = argv[0];
	if (argc == 3 && strcmp(argv[1], "--session") == 0)
		return session_main(strcmp(argv[2], "1") == 0);
	Suite *s = suite_create("signal_policy");
	TCase *tc = tcase_create("stop_beside_the_program");
	tcase_add_test(tc, test_stops_once);
	tcase_add_test(tc, test_stops_once_with_its_copy_pending);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
