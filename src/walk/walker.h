/* Walks the interpreter's thread states and frames, as faulthandler's
 * _Py_DumpTracebackThreads does, and collects them into a snapshot. */
#ifndef PYFAULT_WALKER_H
#define PYFAULT_WALKER_H

#include <stdint.h>

#include "base/errors.h"
#include "process/proc_ctl.h"
#include "layout/py_layout.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"
#include "base/snapshot.h"

/* Which thread the dump heads "Current thread". */
enum pf_current {
	PF_CURRENT_GIL_HOLDER,  /* the thread holding the GIL, if any */
	PF_CURRENT_THREAD,      /* the thread whose pthread_self() is given */
	PF_CURRENT_NONE,        /* none, as dump_traceback_later prints */
};

struct pf_walk_input {
	pid_t pid;                        /* for messages */
	struct pf_mem *mem;
	const struct pf_layout *layout;
	uint64_t runtime;                 /* address of _PyRuntime */
	uint64_t interp_head;             /* pf_target's interp_head */
	uint64_t tstate_current;          /* pf_target's tstate_current */
	const struct pf_stopped *stopped; /* to name OS threads; may be NULL */
	enum pf_current current;
	uint64_t current_thread_id;       /* for PF_CURRENT_THREAD */
	pid_t dumper_tid;                 /* the thread that would write the
	                                     dump, for its name; 0: the main
	                                     thread */
	bool collect_status;              /* fill each thread's status */
	/* The dumper's name where it is not in /proc (a core); NULL: read
	 * there when the layout prints it. */
	const char *dumper_name;
	/* Fills a thread's status where it is not in /proc (a core); NULL:
	 * pf_read_thread_status. */
	void (*thread_status)(void *ctx, pid_t tid,
			      struct pf_thread_status *out);
	void *status_ctx;
	bool main_interpreter_only;       /* faulthandler's scope: not the
	                                     threads of subinterpreters */
	/* --locals: the target's static objects and types; NULL reads no
	 * locals.  The layout must be pf_layout_locals_complete. */
	const struct pf_object_types *locals_types;
};

enum pf_status pf_walk(const struct pf_walk_input *in,
		       struct pf_snapshot *snap, struct pf_error *err);

/* What pthread_getname_np() gives faulthandler's write_thread_id() (3.14+)
 * on Linux: each thread's comm, for the threads whose OS thread id the
 * walk found.  Kept out of pf_walk, which reads only the target's
 * memory. */
void pf_read_thread_names(struct pf_snapshot *snap, pid_t pid);

/* Reads interpreter frames that no thread runs (a suspended coroutine's
 * gi_iframe) as the walk reads a thread's, with snap's code cache. */
struct pf_frame_reader;
struct pf_frame_reader *pf_frame_reader_new(struct pf_mem *mem,
					    const struct pf_layout *layout,
					    struct pf_snapshot *snap);
/* The frame at addr into out, and *raw to the reader's copy of its
 * layout->frame.size bytes (valid until the next read).  Returns 1, 0
 * when the frame cannot be read, -1 when memory runs out. */
int pf_frame_reader_read(struct pf_frame_reader *r, uint64_t addr,
			 struct pf_frame *out, const uint8_t **raw);
void pf_frame_reader_free(struct pf_frame_reader *r);

#endif
