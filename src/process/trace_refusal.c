#include "process/trace_refusal.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CAP_SYS_PTRACE_BIT 19

/* The four values (real, effective, saved, filesystem) of a "Uid:" or
 * "Gid:" line of /proc/PID/status. */
struct id_set {
	unsigned long v[4];
	bool known;
};

static bool all_equal(const struct id_set *ids, unsigned long value)
{
	for (int i = 0; i < 4; i++)
		if (ids->v[i] != value)
			return false;
	return true;
}

static void read_status(pid_t pid, struct id_set *uids, struct id_set *gids,
			long *tracer, unsigned long long *cap_eff)
{
	char path[64], line[256];
	if (pid)
		snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	else
		snprintf(path, sizeof path, "/proc/self/status");
	FILE *f = fopen(path, "re");
	while (f && fgets(line, sizeof line, f)) {
		struct id_set *ids = strncmp(line, "Uid:", 4) == 0   ? uids
				     : strncmp(line, "Gid:", 4) == 0 ? gids
								     : NULL;
		if (ids)
			ids->known = sscanf(line + 4, "%lu %lu %lu %lu",
					    &ids->v[0], &ids->v[1], &ids->v[2],
					    &ids->v[3]) == 4;
		if (tracer)
			sscanf(line, "TracerPid: %ld", tracer);
		if (cap_eff)
			sscanf(line, "CapEff: %llx", cap_eff);
	}
	if (f)
		fclose(f);
}

static void read_comm(long pid, char *name, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/comm", pid);
	name[0] = '\0';
	FILE *f = fopen(path, "re");
	if (f && fgets(name, (int)size, f))
		name[strcspn(name, "\n")] = '\0';
	if (f)
		fclose(f);
}

static int read_yama_scope(void)
{
	int scope = -1;
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	if (f && fscanf(f, "%d", &scope) != 1)
		scope = -1;
	if (f)
		fclose(f);
	return scope;
}

void pf_trace_facts_read(struct pf_trace_facts *f, pid_t pid)
{
	struct id_set uids = {0}, gids = {0}, own_uids = {0}, own_gids = {0};
	unsigned long long cap_eff = 0;
	*f = (struct pf_trace_facts){.pid = pid};
	read_status(pid, &uids, &gids, &f->tracer_pid, NULL);
	read_status(0, &own_uids, &own_gids, NULL, &cap_eff);
	if (f->tracer_pid > 0)
		read_comm(f->tracer_pid, f->tracer_name,
			  sizeof f->tracer_name);
	f->yama_scope = read_yama_scope();
	f->privileged = (cap_eff >> CAP_SYS_PTRACE_BIT) & 1;
	f->own_uid = own_uids.v[0];
	f->target_uid = uids.v[1];
	f->other_user = uids.known && own_uids.known &&
			!(all_equal(&uids, own_uids.v[0]) &&
			  (!gids.known || all_equal(&gids, own_gids.v[0])));
	/* The kernel makes a process undumpable when it changes its
	 * credentials, and then shows the files of its /proc directory as
	 * root's. */
	struct stat st;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	bool undumpable = stat(path, &st) == 0 && st.st_uid == 0 &&
			  uids.known && uids.v[1] != 0;
	f->ids_changed = undumpable ||
			 (uids.known && !all_equal(&uids, uids.v[0])) ||
			 (gids.known && !all_equal(&gids, gids.v[0]));
}

enum pf_status pf_trace_refused(const struct pf_trace_facts *f,
				struct pf_error *err)
{
	int pid = (int)f->pid;
	if (f->tracer_pid > 0)
		return pf_fail(err, PF_ERR_TRACED,
			       "process %d is already traced by %s (process "
			       "%ld), and a process has one tracer at most: "
			       "detach it first (gdb: detach; strace: stop it)",
			       pid, f->tracer_name[0] ? f->tracer_name : "?",
			       f->tracer_pid);
	if (f->yama_scope >= 3)
		return pf_fail(err, PF_ERR_YAMA,
			       "kernel.yama.ptrace_scope is %d: no process may "
			       "trace another on this system, not even root; "
			       "only a reboot lifts it",
			       f->yama_scope);
	if (!f->privileged && f->yama_scope == 2)
		return pf_fail(err, PF_ERR_YAMA,
			       "kernel.yama.ptrace_scope is 2: only "
			       "CAP_SYS_PTRACE may trace process %d: run "
			       "pyfault as root or give it CAP_SYS_PTRACE",
			       pid);
	if (!f->privileged && f->ids_changed)
		return pf_fail(err, PF_ERR_IDS_CHANGED,
			       "process %d changed its user or group IDs (a "
			       "set-user-ID program, or privileges dropped), so "
			       "only CAP_SYS_PTRACE may trace it: run pyfault "
			       "as root",
			       pid);
	if (!f->privileged && f->other_user)
		return pf_fail(err, PF_ERR_PERMISSION,
			       "process %d runs as user %lu and pyfault as user "
			       "%lu: run pyfault as that user or as root",
			       pid, f->target_uid, f->own_uid);
	if (!f->privileged && f->yama_scope == 1)
		return pf_fail(err, PF_ERR_YAMA,
			       "kernel.yama.ptrace_scope is 1: only its "
			       "ancestors may trace process %d: run pyfault as "
			       "root, give it CAP_SYS_PTRACE, or set "
			       "kernel.yama.ptrace_scope to 0",
			       pid);
	return pf_fail(err, PF_ERR_PERMISSION,
		       "not permitted to trace process %d, though its user "
		       "and Yama allow it: a security module (SELinux, "
		       "AppArmor) or a container's seccomp profile forbids "
		       "ptrace; allow it there (Docker: --cap-add=SYS_PTRACE)",
		       pid);
}

enum pf_status pf_trace_refusal(pid_t pid, struct pf_error *err)
{
	struct pf_trace_facts facts;
	pf_trace_facts_read(&facts, pid);
	return pf_trace_refused(&facts, err);
}
