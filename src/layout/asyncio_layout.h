/* Where the asyncio tasks of a process are and how a task is laid out:
 * from the _AsyncioDebug section (Py_AsyncioModuleDebugOffsets) that the
 * _asyncio module of CPython 3.14+ keeps for out-of-process tools, or
 * from the DWARF of the _asyncio extension of 3.11-3.13. */
#ifndef PYFAULT_ASYNCIO_LAYOUT_H
#define PYFAULT_ASYNCIO_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "base/errors.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"

/* Where the tasks are listed. */
enum pf_asyncio_model {
	PF_ASYNCIO_TASK_LISTS,  /* 3.14+: per-thread and per-interpreter
	                           linked lists of TaskObj */
	PF_ASYNCIO_REGISTRY,    /* 3.11-3.13, and 3.14+ without _asyncio:
	                           asyncio.tasks' WeakSet of scheduled
	                           tasks, its eager tasks set and its
	                           current_tasks dict */
};

struct pf_asyncio_layout {
	enum pf_asyncio_model model;
	/* TaskObj of 3.11-3.13 (PF_ASYNCIO_REGISTRY). */
	struct {
		int64_t size;                /* 0: no _asyncio, pure-Python
		                                tasks only */
		int64_t loop;                /* PyObject *task_loop */
		int64_t state;               /* fut_state task_state: 0 is
		                                STATE_PENDING */
		int64_t fut_waiter;          /* PyObject *task_fut_waiter */
		int64_t coro;                /* PyObject *task_coro */
		int64_t name;                /* PyObject *task_name */
	} ctask;
	struct {
		int64_t size;                /* sizeof(TaskObj) */
		int64_t name;                /* PyObject *task_name */
		int64_t awaited_by;          /* PyObject *task_awaited_by: a
		                                task, or a set of them */
		int64_t is_task;             /* char */
		int64_t awaited_by_is_set;   /* char */
		int64_t coro;                /* PyObject *task_coro */
		int64_t node;                /* struct llist_node task_node */
	} task;
	struct {
		int64_t size;
		int64_t tasks_head;          /* struct llist_node: the tasks of
		                                threads that have ended */
	} interp;
	struct {
		int64_t size;                /* sizeof(_PyThreadStateImpl) */
		int64_t running_loop;        /* PyObject * */
		int64_t running_task;        /* PyObject * */
		int64_t tasks_head;          /* struct llist_node */
	} tstate;
	char source_detail[256];         /* where the offsets came from */
	char read_path[4200];            /* where pyfault reads the object
	                                    that holds _asyncio; "" when
	                                    none is loaded (3.11-3.13) */
	char build_id[129];              /* that object's, hex; "" if none:
	                                    keys its offset cache entries */
};

enum pf_asyncio_found {
	PF_ASYNCIO_FOUND,
	PF_ASYNCIO_ABSENT,     /* asyncio is not loaded */
	PF_ASYNCIO_UNKNOWN,    /* loaded, but its layout cannot be known */
};

/* Finds the _asyncio module of t (an extension module, or built into the
 * interpreter) among view's mappings (NULL: the live process's) and reads
 * its offsets, each checked against the size of its struct; those from
 * DWARF go through the offset cache (pf_target_unit_members).  The target
 * may be running.  note receives one line saying why when the result is
 * not PF_ASYNCIO_FOUND. */
enum pf_asyncio_found pf_asyncio_layout_find(struct pf_target *t,
					     const struct pf_target_view *view,
					     struct pf_mem *mem,
					     struct pf_asyncio_layout *out,
					     char *note, size_t note_size);

/* TaskObj of a 3.11-3.13 _asyncio (elf_path: the extension, or an
 * interpreter it is built into) from its DWARF (debuginfo_path as for
 * pf_debuginfo_open), each field checked
 * against the struct's size; detail receives the file the DWARF came
 * from.  PF_ERR_NO_OFFSETS names what is missing. */
enum pf_status pf_asyncio_ctask_from_dwarf(const char *elf_path,
					   const char *debuginfo_path,
					   struct pf_asyncio_layout *out,
					   char *detail, size_t detail_size,
					   struct pf_error *err);

/* Words of Py_AsyncioModuleDebugOffsets, and their names in order. */
#define PF_ASYNCIO_BLOB_WORDS 13
extern const char *const pf_asyncio_word_names[PF_ASYNCIO_BLOB_WORDS];

/* The member of layout that holds the section's i-th word. */
int64_t *pf_asyncio_layout_field(struct pf_asyncio_layout *layout, size_t i);

/* The same for TaskObj (3.11-3.13): its words' names ("ctask.size" first)
 * and the width the walker reads at each (0 for the size). */
#define PF_ASYNCIO_CTASK_WORDS 6
extern const char *const pf_asyncio_ctask_word_names[PF_ASYNCIO_CTASK_WORDS];
extern const int64_t pf_asyncio_ctask_widths[PF_ASYNCIO_CTASK_WORDS];
int64_t *pf_asyncio_ctask_field(struct pf_asyncio_layout *layout, size_t i);

/* The same from a copy of the section (len bytes); false with the first
 * field outside its struct named in note. */
bool pf_asyncio_layout_from_blob(struct pf_asyncio_layout *out,
				 const void *blob, size_t len, char *note,
				 size_t note_size);

#endif
