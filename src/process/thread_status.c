#include "process/thread_status.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static FILE *open_task_file(pid_t pid, pid_t tid, const char *name)
{
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/task/%d/%s", (int)pid, (int)tid,
		 name);
	return fopen(path, "re");
}

static void read_name(pid_t pid, pid_t tid, struct pf_thread_status *status)
{
	FILE *f = open_task_file(pid, tid, "comm");
	if (f == NULL)
		return;
	if (fgets(status->name, sizeof status->name, f) != NULL)
		status->name[strcspn(status->name, "\n")] = '\0';
	fclose(f);
}

/* "NR ARG0 ... ARG5 SP PC" in a system call, "-1 SP PC" in user space,
 * "running" for a thread on a CPU (not one held by ptrace). */
static void read_syscall(pid_t pid, pid_t tid,
			 struct pf_thread_status *status)
{
	FILE *f = open_task_file(pid, tid, "syscall");
	if (f == NULL)
		return;
	char line[256];
	long nr;
	uint64_t *a = status->syscall_args;
	if (fgets(line, sizeof line, f) != NULL &&
	    sscanf(line, "%ld", &nr) == 1) {
		if (nr < 0) {
			status->state = PF_STATE_RUNNING;
		} else if (sscanf(line,
				  "%*d %" SCNx64 " %" SCNx64 " %" SCNx64
				  " %" SCNx64 " %" SCNx64 " %" SCNx64,
				  &a[0], &a[1], &a[2], &a[3], &a[4],
				  &a[5]) == 6) {
			status->state = PF_STATE_SYSCALL;
			status->syscall_nr = nr;
		}
	}
	fclose(f);
}

void pf_read_thread_status(pid_t pid, pid_t tid,
			   struct pf_thread_status *status)
{
	status->collected = true;
	if (tid <= 0)
		return;
	read_name(pid, tid, status);
	read_syscall(pid, tid, status);
}
