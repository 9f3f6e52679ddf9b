/* Error statuses shared by every layer (each value is the command's exit
 * status) and the hint that tells the user how to fix each.  Kept together
 * so that the man pages, the messages and the exit codes cannot drift
 * apart. */
#ifndef PYFAULT_ERRORS_H
#define PYFAULT_ERRORS_H

#include <stdarg.h>
#include <stdbool.h>

enum pf_status {
	PF_OK = 0,
	PF_ERR_INTERNAL = 1,      /* unexpected failure, output write error */
	PF_ERR_USAGE = 2,
	PF_ERR_NO_PROCESS = 3,
	PF_ERR_PERMISSION = 4,    /* another user's, or a security policy */
	PF_ERR_NOT_PYTHON = 5,
	PF_ERR_UNSUPPORTED = 6,   /* a Python version pyfault cannot read */
	PF_ERR_NO_OFFSETS = 7,    /* supported version, but no layout found */
	PF_ERR_EXITED = 8,        /* the target exited during the dump */
	PF_ERR_BAD_MEMORY = 9,    /* the interpreter's structures are unreadable */
	PF_ERR_NOT_READY = 10,    /* Python is starting up or shutting down */
	PF_ERR_TRACED = 11,       /* another tracer (gdb, strace) holds it */
	PF_ERR_YAMA = 12,         /* kernel.yama.ptrace_scope forbids it */
	PF_ERR_IDS_CHANGED = 13,  /* set-ID program or privileges dropped */
	PF_ERR_FILE_GONE = 14,    /* the interpreter's file was deleted or
	                             replaced, its mapped copy unreadable;
	                             pyfault-core: a mapped file missing */
	PF_ERR_BAD_CORE = 15,     /* not an ELF core of an x86_64 process */
	PF_ERR_WRONG_FILE = 16,   /* a file that is not the one the core's
	                             process mapped (another build-id) */
};

struct pf_error {
	enum pf_status status;
	bool fix_given;   /* the message names the fix: no status hint */
	char message[768];
};

/* Records the first error only: the root cause is what the user needs. */
enum pf_status pf_fail(struct pf_error *err, enum pf_status status,
		       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* pf_fail for a message that names the fix itself, such as the package
 * to install. */
enum pf_status pf_fail_with_fix(struct pf_error *err, enum pf_status status,
				const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A one-phrase fix for the status, or NULL when the message says it all. */
const char *pf_status_hint(enum pf_status status);

#endif
