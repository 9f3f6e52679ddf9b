/* Why the kernel refused to let pyfault trace a process, said so that the
 * operator can act on it: another tracer, Yama's policy, a program that
 * changed its credentials, another user, or a policy pyfault cannot see.
 * The facts are read from /proc apart from the choice of message, so that
 * each message can be tested without the machine's settings. */
#ifndef PYFAULT_TRACE_REFUSAL_H
#define PYFAULT_TRACE_REFUSAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/errors.h"

struct pf_trace_facts {
	pid_t pid;
	long tracer_pid;        /* TracerPid of the target; 0 when none */
	char tracer_name[32];   /* the tracer's comm, "" when unknown */
	int yama_scope;         /* kernel.yama.ptrace_scope; -1 without Yama */
	bool privileged;        /* CAP_SYS_PTRACE in pyfault's effective set */
	bool ids_changed;       /* set-user/group-ID program, or privileges
				   dropped: the kernel makes it undumpable */
	bool other_user;        /* its user IDs are not all pyfault's */
	unsigned long target_uid, own_uid;
};

/* Reads the facts about pid and about pyfault itself from /proc. */
void pf_trace_facts_read(struct pf_trace_facts *facts, pid_t pid);

/* The error for a refusal: the first fact that explains it, with its
 * fix, in one line. */
enum pf_status pf_trace_refused(const struct pf_trace_facts *facts,
				struct pf_error *err);

/* Both steps, for a refusal just seen on pid. */
enum pf_status pf_trace_refusal(pid_t pid, struct pf_error *err);

#endif
