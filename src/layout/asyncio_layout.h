/* Where the asyncio tasks of a process are and how a task is laid out:
 * from the _AsyncioDebug section (Py_AsyncioModuleDebugOffsets) that the
 * _asyncio module of CPython 3.14+ keeps for out-of-process tools. */
#ifndef PYFAULT_ASYNCIO_LAYOUT_H
#define PYFAULT_ASYNCIO_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "layout/py_target.h"
#include "process/remote_mem.h"

struct pf_asyncio_layout {
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
	                                    that holds _asyncio */
};

enum pf_asyncio_found {
	PF_ASYNCIO_FOUND,
	PF_ASYNCIO_ABSENT,     /* asyncio is not loaded */
	PF_ASYNCIO_UNKNOWN,    /* loaded, but its layout cannot be known */
};

/* Finds the _asyncio module of t (an extension module, or built into the
 * interpreter) and reads its offsets, each checked against the size of its
 * struct.  The target may be running.  note receives one line saying why
 * when the result is not PF_ASYNCIO_FOUND. */
enum pf_asyncio_found pf_asyncio_layout_find(const struct pf_target *t,
					     struct pf_mem *mem,
					     struct pf_asyncio_layout *out,
					     char *note, size_t note_size);

/* Words of Py_AsyncioModuleDebugOffsets, and their names in order. */
#define PF_ASYNCIO_BLOB_WORDS 13
extern const char *const pf_asyncio_word_names[PF_ASYNCIO_BLOB_WORDS];

/* The member of layout that holds the section's i-th word. */
int64_t *pf_asyncio_layout_field(struct pf_asyncio_layout *layout, size_t i);

/* The same from a copy of the section (len bytes); false with the first
 * field outside its struct named in note. */
bool pf_asyncio_layout_from_blob(struct pf_asyncio_layout *out,
				 const void *blob, size_t len, char *note,
				 size_t note_size);

#endif
