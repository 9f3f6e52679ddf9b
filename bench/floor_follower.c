/* floor_follower: the least a ptrace follower can do, as the floor that
 * bench/watch_bench.py measures pyfault-watch against.
 *
 *   floor_follower COMMAND [ARG]...
 *
 * Runs COMMAND traced from its first instruction with the events
 * pyfault-watch asks for (new threads and processes, exec), follows every
 * thread and child, and does nothing but let every stop go on: a signal is
 * delivered as it came, a group-stop is listened to.  No system call
 * stepping, no memory read, no dump.  Exits as COMMAND did (128 + N for a
 * signal N).  Not installed: bench/watch_bench.py builds it with cc. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: floor_follower COMMAND [ARG]...\n");
		return 2;
	}
	int go[2];
	if (pipe(go) != 0)
		return perror("pipe"), 1;
	pid_t child = fork();
	if (child < 0)
		return perror("fork"), 1;
	if (child == 0) {
		/* Waits for the seize, so that exec itself is traced. */
		char byte;
		close(go[1]);
		if (read(go[0], &byte, 1) != 1)
			_exit(127);
		close(go[0]);
		execvp(argv[1], argv + 1);
		fprintf(stderr, "floor_follower: %s: %s\n", argv[1],
			strerror(errno));
		_exit(127);
	}
	close(go[0]);
	long options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK |
		       PTRACE_O_TRACEVFORK | PTRACE_O_TRACEEXEC |
		       PTRACE_O_EXITKILL;
	if (ptrace(PTRACE_SEIZE, child, NULL, (void *)options) != 0) {
		perror("floor_follower: PTRACE_SEIZE");
		kill(child, SIGKILL);
		return 1;
	}
	if (write(go[1], "g", 1) != 1)
		return perror("write"), 1;
	close(go[1]);

	int result = 1;
	for (;;) {
		int status;
		pid_t tid = waitpid(-1, &status, __WALL);
		if (tid < 0) {
			if (errno == EINTR)
				continue;
			break;  /* ECHILD: every tracee has ended */
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) {
			if (tid == child)
				result = WIFEXITED(status)
						 ? WEXITSTATUS(status)
						 : 128 + WTERMSIG(status);
			continue;
		}
		int sig = WSTOPSIG(status), event = status >> 16;
		if (event == PTRACE_EVENT_STOP &&
		    (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
		     sig == SIGTTOU))
			ptrace(PTRACE_LISTEN, tid, NULL, NULL);
		else
			ptrace(PTRACE_CONT, tid, NULL,
			       (void *)(long)(event == 0 ? sig : 0));
	}
	return result;
}
