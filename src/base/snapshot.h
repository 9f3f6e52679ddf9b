/* What the walker collects while the target is stopped and the formatter
 * prints after it runs again: plain values, no target pointers. */
#ifndef PYFAULT_SNAPSHOT_H
#define PYFAULT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* faulthandler's limits (Python/traceback.c). */
#define PF_MAX_STRING_LENGTH 500
#define PF_MAX_FRAME_DEPTH 100
#define PF_MAX_NTHREADS 100
/* C frames unwound per thread: deeper than faulthandler's 32, so that the
 * C stack of a Python stack 100 frames deep can be merged with it. */
#define PF_MAX_NATIVE_DEPTH 1024

/* A str of the target, cut to PF_MAX_STRING_LENGTH code points. */
struct pf_text {
	bool present;          /* false: not a str, printed as ??? */
	bool truncated;
	uint32_t length;
	uint32_t *chars;       /* code points */
};

/* One local variable of a frame (--locals), its value as a bounded repr
 * (py_repr.h). */
struct pf_local {
	struct pf_text name;
	const char *kind;      /* "local", "cell" or "free" */
	char type[64];         /* its type's __name__, "" if unreadable */
	char *repr;
};

struct pf_frame {
	const struct pf_text *filename;   /* owned by the snapshot's code cache */
	const struct pf_text *name;
	int lineno;                       /* negative: unknown */
	bool code_unreadable;             /* its code object could not be
	                                     read: filename and name unknown */
	/* The first frame its C-level evaluation call ran: this frame and the
	 * newer ones up to the previous entry are run by one C frame of the
	 * evaluation loop.  Meaningful when the thread's entries_known. */
	bool entry;
	/* --locals: its bound fast locals, cell and free variables, in
	 * f_locals order; locals_truncated when limits cut them. */
	uint32_t nlocals;
	bool locals_truncated;
	struct pf_local *locals;
};

/* One C frame of a thread (--native), symbolized while the target is
 * stopped.  Strings are owned by the thread dump. */
struct pf_native_frame {
	uint64_t pc;              /* where the innermost frame stopped; a
	                             return address in its callers (see
	                             return_address) */
	char *object;             /* path of the ELF file mapped there; NULL:
	                             anonymous memory */
	char *symbol;             /* NULL: no symbol covers pc */
	uint64_t symbol_offset;   /* pc - symbol start */
	char *source_file;        /* NULL unless DWARF has a line for pc */
	int source_line;
	/* pc is a return address: the call, which symbol, source_file and
	 * source_line describe, is at pc - 1. */
	bool return_address;
	uint64_t load_bias;       /* of the object: run-time minus ELF
	                             address; 0 when object is NULL */
};

/* What a thread was doing when it was stopped (--status, JSON). */
enum pf_thread_state {
	PF_STATE_UNKNOWN,    /* not collected, or /proc did not tell */
	PF_STATE_RUNNING,    /* in user space: running, or ready to run */
	PF_STATE_SYSCALL,    /* in a system call: syscall_nr */
	PF_STATE_GIL_WAIT,   /* in futex() on a word of the GIL's state */
};

struct pf_thread_status {
	bool collected;
	char name[16];          /* /proc/PID/task/TID/comm, "" if unknown */
	bool holds_gil;
	enum pf_thread_state state;
	long syscall_nr;        /* PF_STATE_SYSCALL, PF_STATE_GIL_WAIT */
	uint64_t syscall_args[6];
};

struct pf_thread_dump {
	uint64_t thread_id;    /* tstate->thread_id */
	pid_t tid;             /* OS thread id, 0 if unknown */
	char name[16];         /* its comm (3.14+ headers), "" if unknown */
	bool is_current;
	bool gc_collecting;
	bool frames_truncated; /* more than PF_MAX_FRAME_DEPTH frames */
	/* 3.14.1+: the walk stopped at a frame with an unknown part, the
	 * last one (or, when its code could not be read, one not kept). */
	bool invalid_frame;
	size_t nframes;
	struct pf_frame frames[PF_MAX_FRAME_DEPTH];
	/* C frames, innermost first; nnative == 0 without --native. */
	size_t nnative;
	struct pf_native_frame *native;
	bool native_truncated; /* more than PF_MAX_NATIVE_DEPTH C frames */
	/* Every frame's entry flag is known (see struct pf_frame). */
	bool entries_known;
	/* The faulting thread has no thread state (Python never ran in it,
	 * or it ended): it has only its C stack. */
	bool no_tstate;
	/* Filled only when the walk was asked for it. */
	struct pf_thread_status status;
	/* Its threading.Thread's name (pf_read_python_names); not present
	 * when threading does not know the thread or it was not read. */
	struct pf_text python_name;
};

/* The names of the "Extension modules" line of a fatal-error dump, in
 * sys.modules order, each cut as faulthandler cuts it. */
struct pf_module_list {
	size_t count;
	struct pf_text *names;
};

/* Asyncio tasks (--tasks): at most this many are kept, "..." past them. */
#define PF_MAX_TASKS 100000

enum pf_task_state {
	PF_TASK_PENDING,     /* suspended, waiting for what it awaits */
	PF_TASK_RUNNING,     /* the running task of its thread */
};

/* One asyncio task, read while the target was stopped. */
struct pf_task {
	uint64_t id;                 /* the task object's address */
	struct pf_text name;
	enum pf_task_state state;
	uint64_t thread_id;          /* the thread whose task list holds it
	                                (the one running it when running);
	                                0: a thread that has ended */
	uint64_t loop;               /* that thread's running loop, 0 if none */
	bool loop_stopped;           /* 3.11-3.13, thread_id 0: its loop is
	                                not running, no thread ended */
	/* The await chain, innermost awaitable first, the task's own
	 * coroutine last, in faulthandler's frame format. */
	size_t nframes;
	struct pf_frame *frames;
	bool frames_truncated;       /* longer than PF_MAX_FRAME_DEPTH */
	/* What the innermost coroutine awaits when it is not a coroutine or
	 * generator: its type's name ("" when it awaits nothing known) and
	 * address. */
	char awaits_type[64];
	uint64_t awaits_object;
	/* The tasks awaiting this one (task_awaited_by) and the tasks this
	 * one awaits (those whose awaited_by hold it), as indices into the
	 * list's tasks. */
	size_t nawaited_by;
	size_t *awaited_by;
	size_t nawaiting;
	size_t *awaiting;
	/* The awaiters' ids as read, while the list is walked. */
	size_t nawaiter_ids;
	uint64_t *awaiter_ids;
	/* The deadlock cycle it is part of, from 1; 0 if none. */
	unsigned cycle;
};

/* One event loop running in a thread when the target was stopped. */
struct pf_task_loop {
	uint64_t thread_id;
	uint64_t loop;
	uint64_t running_task;       /* 0: none */
};

struct pf_task_list {
	bool collected;              /* the walk ran: the section is shown */
	size_t count;
	bool truncated;              /* more than PF_MAX_TASKS */
	struct pf_task *tasks;
	size_t nloops;
	struct pf_task_loop *loops;
	unsigned ncycles;            /* deadlock cycles found */
	/* Why the list is incomplete or missing, one line; "" if it is
	 * not. */
	char note[320];
};

void pf_task_list_free(struct pf_task_list *list);
/* An interpreter besides the main one (a subinterpreter): its threads,
 * which faulthandler never shows, in a section of their own. */
struct pf_interp_dump {
	int64_t id;             /* PyInterpreterState.id; -1 where the
	                           version has none (2.7, 3.6) */
	uint64_t addr;          /* its PyInterpreterState, to name it where
	                           it has no id */
	size_t nthreads;
	bool threads_truncated; /* more than PF_MAX_NTHREADS threads */
	/* Its thread list could not be read to the end: nthreads are what
	 * was read before. */
	bool unreadable;
	struct pf_thread_dump *threads;
};

/* Interpreters shown besides the main one; more are counted only. */
#define PF_MAX_INTERPRETERS 64

struct pf_code_cache;

struct pf_snapshot {
	size_t nthreads;
	bool threads_truncated; /* more than PF_MAX_NTHREADS threads */
	struct pf_thread_dump *threads;
	/* The current thread when threads[] does not hold it: past the first
	 * PF_MAX_NTHREADS, or the faulting thread without a thread state.
	 * faulthandler still shows its stack alone, and its C stack. */
	bool has_outside;
	struct pf_thread_dump outside;
	struct pf_code_cache *codes;
	/* The one target address kept: the interpreter whose threads were
	 * walked, for further reads while the target is still stopped. */
	uint64_t interp;
	/* The name (comm) of the thread that would write faulthandler's
	 * dump, for layouts with thread_name_suffix; "" when unknown. */
	char dumper_name[16];
	/* A free-threaded build running without the GIL. */
	bool gil_disabled;
	/* Filled by pf_read_extension_modules (py_modules.h); empty unless
	 * it ran. */
	struct pf_module_list modules;
	/* Filled by pf_walk_tasks (task_walker.h); empty unless it ran. */
	struct pf_task_list tasks;
	/* The frames' locals were read (--locals). */
	bool locals_read;
	/* The main interpreter's id, -1 where the version has none. */
	int64_t interp_id;
	/* The other interpreters, oldest first, unless the walk was asked
	 * for the main one only. */
	size_t ninterps;
	bool interps_truncated; /* more than PF_MAX_INTERPRETERS others */
	struct pf_interp_dump *interps;
};

void pf_module_list_free(struct pf_module_list *list);

void pf_snapshot_free(struct pf_snapshot *snap);

/* Every thread dump of snap: threads[], then outside if it has one, then
 * the threads of each further interpreter. */
size_t pf_snapshot_count(const struct pf_snapshot *snap);
struct pf_thread_dump *pf_snapshot_thread(struct pf_snapshot *snap, size_t i);

/* The current thread, in threads[] or outside; NULL when there is none. */
const struct pf_thread_dump *pf_snapshot_current(
	const struct pf_snapshot *snap);

/* The same, only if it has Python frames to show (a thread state). */
const struct pf_thread_dump *pf_snapshot_current_python(
	const struct pf_snapshot *snap);

#endif
