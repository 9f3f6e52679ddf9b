/* Stopping and releasing the threads of a process that ends meanwhile:
 * the kernel reports a thread group leader's end to its tracer only after
 * every other traced thread of the group has been reaped, so a wait for
 * the leader alone never returns.  Each test runs a child process with
 * threads blocked in read(), and ends it at a chosen point. */
#include <check.h>
#include <dirent.h>
#include <poll.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "process/proc_ctl.h"
#include "check_run.h"

#define WORKERS 3

/* A process with threads, started by a process of its own, as pyfault's
 * targets are: pyfault is their tracer, never their parent. */
struct child {
	pid_t pid;
	int go;          /* closing it ends what child_main waits for */
	int report;      /* where its parent writes its pid, then its end */
	pid_t parent;
};

/* This program, which the child and its parent run: started afresh by
 * exec, they inherit nothing of Check's and run outside valgrind. */
static const char *self;

static int go_fd;

static void *worker(void *arg)
{
	char byte;
	ssize_t n;
	(void)arg;
	do
		n = read(go_fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	return NULL;
}

/* The child: WORKERS threads and the main thread read the go pipe; at EOF
 * the workers return and the main thread ends as leader_exits says: alone
 * (pthread_exit, the group lives on until the workers end) or, waiting for
 * nothing, the whole process. */
static int child_main(int ready, int go, bool leader_exits)
{
	pthread_t t[WORKERS];
	go_fd = go;
	for (int i = 0; i < WORKERS; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0)
			return 2;
	/* Every thread exists once the byte is written. */
	if (write(ready, "r", 1) != 1)
		return 2;
	worker(NULL);
	if (leader_exits)
		pthread_exit(NULL);
	return 0;
}

/* The parent: starts the child, reports its pid, then how it ended. */
static int parent_main(char **fds, int report)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl(self, self, "--child", fds[0], fds[1], fds[2],
		      (char *)NULL);
		_exit(127);
	}
	int status = -1;
	if (write(report, &pid, sizeof pid) != sizeof pid)
		return 2;
	pid_t r;
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	return write(report, &status, sizeof status) == sizeof status ? 0 : 2;
}

static struct child start_child(bool leader_exits)
{
	int ready[2], go[2], report[2];
	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(report), 0);
	pid_t parent = fork();
	ck_assert_int_ge(parent, 0);
	if (parent == 0) {
		char arg[4][16];
		snprintf(arg[0], sizeof arg[0], "%d", ready[1]);
		snprintf(arg[1], sizeof arg[1], "%d", go[0]);
		snprintf(arg[2], sizeof arg[2], "%d", leader_exits);
		snprintf(arg[3], sizeof arg[3], "%d", report[1]);
		close(ready[0]);
		close(go[1]);
		close(report[0]);
		execl(self, self, "--parent", arg[0], arg[1], arg[2], arg[3],
		      (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	close(go[0]);
	close(report[1]);
	struct child c = {.go = go[1], .report = report[0], .parent = parent};
	char byte;
	ck_assert_int_eq(read(report[0], &c.pid, sizeof c.pid),
			 sizeof c.pid);
	ck_assert_int_eq(read(ready[0], &byte, 1), 1);
	close(ready[0]);
	return c;
}

/* How the child ended, as its parent saw it: only once nothing of it is
 * traced any more. */
static int child_status(struct child *c)
{
	struct pollfd pfd = {.fd = c->report, .events = POLLIN};
	int status;
	ck_assert_msg(poll(&pfd, 1, 10000) == 1,
		      "the parent of %d never saw it end: left traced?",
		      (int)c->pid);
	ck_assert_int_eq(read(c->report, &status, sizeof status),
			 sizeof status);
	close(c->report);
	waitpid(c->parent, NULL, 0);
	return status;
}

/* A child all of whose threads are seized, none stopped: list gets them,
 * the leader first. */
static struct child start_seized(bool leader_exits,
				 struct pf_wait list[WORKERS + 1])
{
	struct child c = start_child(leader_exits);
	pid_t pid = c.pid;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	ck_assert_ptr_nonnull(dir);
	size_t n = 0;
	list[n++] = (struct pf_wait){.tid = pid};
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
		if (tid > 0 && tid != pid) {
			ck_assert_uint_lt(n, WORKERS + 1);
			list[n++] = (struct pf_wait){.tid = tid};
		}
	}
	closedir(dir);
	ck_assert_uint_eq(n, WORKERS + 1);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ptrace(PTRACE_SEIZE, list[i].tid, NULL, NULL),
				 0);
	return c;
}

/* "State:" and "TracerPid:" of a thread; state 0 once it is gone. */
static char thread_state(pid_t pid, pid_t tid, int *tracer)
{
	char path[80], line[128], state = 0;
	snprintf(path, sizeof path, "/proc/%d/task/%d/status", (int)pid,
		 (int)tid);
	*tracer = 0;
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof line, f)) {
		sscanf(line, "State: %c", &state);
		sscanf(line, "TracerPid: %d", tracer);
	}
	if (f)
		fclose(f);
	return state;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Polls until every thread of pid but the leader is a zombie or gone. */
static void wait_workers_ended(pid_t pid, const struct pf_wait *list)
{
	double deadline = now_ms() + 10000;
	for (size_t i = 1; i < WORKERS + 1; i++) {
		int tracer;
		char st;
		while ((st = thread_state(pid, list[i].tid, &tracer)) != 'Z' &&
		       st != 0) {
			ck_assert_msg(now_ms() < deadline,
				      "thread %d did not end (state %c)",
				      (int)list[i].tid, st);
			usleep(1000);
		}
	}
}

/* The child died of SIGKILL, as its parent saw it. */
static void check_killed(struct child *c)
{
	int status = child_status(c);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	close(c->go);
}

/* Every thread of list reports, long before the limit of the wait. */
static void wait_all(pid_t pid, struct pf_wait *list, size_t n,
		     bool until_reaped)
{
	double t0 = now_ms();
	ck_assert_uint_eq(pf_proc_wait_threads(pid, list, n, until_reaped), 0);
	ck_assert_msg(now_ms() - t0 < PF_PROC_WAIT_MS,
		      "waiting waited out its limit");
}

START_TEST(test_killed_while_held)
{
	struct child c = start_child(false);
	struct pf_stopped s;
	struct pf_error err = {0};
	ck_assert_int_eq(pf_proc_stop_all(&s, c.pid, &err), PF_OK);
	ck_assert_uint_eq(s.count, WORKERS + 1);
	ck_assert_int_eq(kill(c.pid, SIGKILL), 0);
	double t0 = now_ms();
	pf_proc_resume_all(&s);
	ck_assert_msg(now_ms() - t0 < PF_PROC_WAIT_MS,
		      "releasing waited out its limit");
	/* Every thread was reaped by its tracer: what is left is the
	 * leader, a zombie of its parent alone (or gone already). */
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)c.pid);
	DIR *dir = opendir(path);
	struct dirent *de;
	while (dir && (de = readdir(dir)) != NULL) {
		pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
		int tracer = 0;
		if (tid > 0)
			thread_state(c.pid, tid, &tracer);
		ck_assert_msg(tracer == 0, "thread %d still traced by %d",
			      (int)tid, tracer);
	}
	if (dir)
		closedir(dir);
	check_killed(&c);
}
END_TEST

/* Releasing raises the tracer to real-time priority for the loop, where
 * it may: afterwards its scheduling is what it was, and every thread of
 * the target is released. */
START_TEST(test_release_keeps_scheduling)
{
	static const int policies[] = {SCHED_OTHER, SCHED_BATCH};
	for (size_t k = 0; k < sizeof policies / sizeof *policies; k++) {
		struct sched_param normal = {0};
		ck_assert_int_eq(sched_setscheduler(0, policies[k], &normal),
				 0);
		struct child c = start_child(false);
		struct pf_stopped s;
		struct pf_error err = {0};
		ck_assert_int_eq(pf_proc_stop_all(&s, c.pid, &err), PF_OK);
		ck_assert_uint_eq(s.count, WORKERS + 1);
		pid_t tids[WORKERS + 1];
		for (size_t i = 0; i < s.count; i++)
			tids[i] = s.threads[i].tid;
		pf_proc_resume_all(&s);
		ck_assert_int_eq(sched_getscheduler(0), policies[k]);
		for (size_t i = 0; i < WORKERS + 1; i++) {
			int tracer;
			char state = thread_state(c.pid, tids[i], &tracer);
			ck_assert_msg(state != 0 && tracer == 0,
				      "thread %d: state %c, traced by %d",
				      (int)tids[i], state ? state : '?',
				      tracer);
		}
		close(c.go);
		int status = child_status(&c);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	sched_setscheduler(0, SCHED_OTHER, &(struct sched_param){0});
}
END_TEST

START_TEST(test_ends_while_stopping)
{
	struct pf_wait list[WORKERS + 1];
	size_t n = WORKERS + 1;
	struct child c = start_seized(false, list);
	/* The process ends before any thread stops, as when it ends
	 * between pyfault's interrupt and its wait. */
	ck_assert_int_eq(kill(c.pid, SIGKILL), 0);
	wait_workers_ended(c.pid, list);
	int status;
	ck_assert_msg(waitpid(c.pid, &status, __WALL | WNOHANG) == 0,
		      "the leader's end was reported before its threads'");
	wait_all(c.pid, list, n, true);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(list[i].ended && list[i].reaped,
			      "thread %d not reaped", (int)list[i].tid);
		ck_assert(WIFSIGNALED(list[i].status));
	}
	check_killed(&c);
}
END_TEST

START_TEST(test_leader_ends_alone)
{
	struct pf_wait list[WORKERS + 1];
	size_t n = WORKERS + 1;
	struct child c = start_seized(true, list);
	/* One byte wakes one reader: the leader, once the others are
	 * held, as soon as it runs. */
	for (size_t i = 1; i < n; i++) {
		pid_t tid = list[i].tid;
		ck_assert_int_eq(ptrace(PTRACE_INTERRUPT, tid, NULL, NULL), 0);
		ck_assert_int_eq(waitpid(tid, NULL, __WALL), tid);
		list[i].reported = true;
	}
	ck_assert_int_eq(write(c.go, "x", 1), 1);
	/* Its end cannot be reported while the others are held, and does
	 * not keep the wait waiting. */
	wait_all(c.pid, list, n, false);
	ck_assert(list[0].ended && list[0].unreaped && !list[0].reaped);
	for (size_t i = 1; i < n; i++) {
		ck_assert(!list[i].ended);
		ck_assert_int_eq(
			ptrace(PTRACE_DETACH, list[i].tid, NULL, NULL), 0);
	}
	/* The group ends with its workers; then the leader is reaped. */
	close(c.go);
	struct pf_wait leader = {.tid = c.pid};
	wait_all(c.pid, &leader, 1, true);
	ck_assert(leader.ended && leader.reaped);
	int status = child_status(&c);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* The thread that sends the held worker a signal once the test's main
 * thread waits in sigtimedwait (rt_sigtimedwait, system call 128), so
 * that its stop comes during the wait, whose SIGCHLD the wait takes. */
struct late_stop {
	pid_t waiter, pid, tid;
};

static void *stop_late(void *arg)
{
	const struct late_stop *l = arg;
	char path[64], line[64] = "";
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall",
		 (int)l->waiter);
	double deadline = now_ms() + 10000;
	while (strncmp(line, "128 ", 4) != 0 && now_ms() < deadline) {
		FILE *f = fopen(path, "re");
		if (f == NULL || fgets(line, sizeof line, f) == NULL)
			line[0] = '\0';
		if (f)
			fclose(f);
	}
	syscall(SYS_tgkill, l->pid, l->tid, SIGUSR1);
	return NULL;
}

START_TEST(test_sigchld_left_for_a_caller_that_blocks_it)
{
	sigset_t chld, old, pending;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	/* Blocked before the thread starts, which inherits the mask: the
	 * SIGCHLD must wait for the main thread, as pyfault-watch's does for
	 * its signalfd. */
	pthread_sigmask(SIG_BLOCK, &chld, &old);
	struct pf_wait list[WORKERS + 1];
	struct child c = start_seized(false, list);
	/* All held but one worker, which stops at the signal. */
	for (size_t i = 0; i < WORKERS; i++) {
		ck_assert_int_eq(
			ptrace(PTRACE_INTERRUPT, list[i].tid, NULL, NULL), 0);
		ck_assert_int_eq(waitpid(list[i].tid, NULL, __WALL),
				 list[i].tid);
		list[i].reported = true;
	}
	struct late_stop late = {.waiter = (pid_t)syscall(SYS_gettid),
				 .pid = c.pid, .tid = list[WORKERS].tid};
	pthread_t stopper;
	ck_assert_int_eq(pthread_create(&stopper, NULL, stop_late, &late), 0);
	wait_all(c.pid, list, WORKERS + 1, false);
	pthread_join(stopper, NULL);
	ck_assert_int_eq(WSTOPSIG(list[WORKERS].status), SIGUSR1);
	ck_assert_int_eq(sigpending(&pending), 0);
	ck_assert_msg(sigismember(&pending, SIGCHLD),
		      "the wait took SIGCHLD from a caller that blocks it");
	sigset_t now;
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ck_assert(sigismember(&now, SIGCHLD));
	ck_assert_int_eq(kill(c.pid, SIGKILL), 0);
	for (size_t i = 0; i < WORKERS + 1; i++)
		list[i] = (struct pf_wait){.tid = list[i].tid};
	wait_all(c.pid, list, WORKERS + 1, true);
	check_killed(&c);
	while (sigtimedwait(&chld, NULL, &(struct timespec){0, 0}) == SIGCHLD)
		;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}
END_TEST

int main(int argc, char **argv)
{
	self = argv[0];
	if (argc == 5 && strcmp(argv[1], "--child") == 0)
		return child_main(atoi(argv[2]), atoi(argv[3]),
				  atoi(argv[4]) != 0);
	if (argc == 6 && strcmp(argv[1], "--parent") == 0)
		return parent_main(argv + 2, atoi(argv[5]));
	Suite *s = suite_create("proc_ctl");
	TCase *tc = tcase_create("ends");
	/* Longer than the limit of pyfault's waits, so that running into
	 * it shows as such, not as Check's timeout. */
	tcase_set_timeout(tc, 4 * PF_PROC_WAIT_MS / 1000);
	tcase_add_test(tc, test_killed_while_held);
	tcase_add_test(tc, test_release_keeps_scheduling);
	tcase_add_test(tc, test_ends_while_stopping);
	tcase_add_test(tc, test_leader_ends_alone);
	tcase_add_test(tc, test_sigchld_left_for_a_caller_that_blocks_it);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
