/* The threads and processes pyfault-watch follows, and what it knows of
 * each process's interpreter.  A table moves when it grows or shrinks:
 * pointers into it last until the next add or remove. */
#ifndef PYFAULT_WATCH_TABLES_H
#define PYFAULT_WATCH_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/errors.h"
#include "layout/py_target.h"
#include "process/loader_range.h"
#include "watch/watch_options.h"

struct tracee {
	pid_t tid;
	pid_t pid;             /* its process (thread group) */
	bool started;          /* its auto-attach stop has been seen */
};

/* A watched process and what is known of its interpreter, found after
 * each exec once the dynamic loader has mapped the program's libraries
 * (libpython then), or else on its first dump. */
struct process {
	pid_t pid;
	/* The loader of a new image, while its system calls are stepped
	 * through; all 0 otherwise. */
	struct pf_loader_range loader;
	bool target_tried;
	bool target_reported;  /* its error or -v line has been printed */
	enum pf_status target_status;
	struct pf_error target_err;
	struct pf_target target;
};

struct watch {
	const struct watch_options *opt;
	FILE *out;
	pid_t child;           /* the program pyfault-watch started */
	struct tracee *tracees;
	size_t ntracees, tracees_cap;
	struct process *procs;
	size_t nprocs, procs_cap;
	bool finished;
	int wait_status;
	pid_t dumped;          /* the process of the last dump written, or 0 */
	bool headers;          /* dumps start with "Process PID:" from now on */
};

struct tracee *watch_find_tracee(struct watch *w, pid_t tid);
struct process *watch_find_process(struct watch *w, pid_t pid);
/* The known process, or a new entry; NULL out of memory. */
struct process *watch_add_process(struct watch *w, pid_t pid);
/* The thread group of a thread seen before its creator's event. */
pid_t watch_process_of(pid_t tid);
struct tracee *watch_add_tracee(struct watch *w, pid_t tid, pid_t pid,
				bool started);
/* Forgets a thread, and its process with its last thread. */
void watch_remove_tracee(struct watch *w, pid_t tid);
/* Whether thread tid is alive and still traced by this watcher: neither a
 * zombie nor a recycled id. */
bool watch_traced_alive(pid_t tid);
/* A clone, fork or vfork event of thread tid: the new thread or process is
 * traced from its first instruction and reports its first stop on its
 * own.  Other events are ignored. */
void watch_note_new_tracee(struct watch *w, pid_t tid, int event);
/* A traced thread whose end was reaped: forgotten, with the program's
 * status when it is the program's. */
void watch_thread_ended(struct watch *w, pid_t tid, int status);

#endif
