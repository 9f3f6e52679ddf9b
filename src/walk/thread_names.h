/* The names that Python's threading module gives threads (Thread.name),
 * read from outside as py-spy reads them: each interpreter's
 * sys.modules["threading"]._active maps a thread id to its Thread, whose
 * instance attributes hold the name. */
#ifndef PYFAULT_THREAD_NAMES_H
#define PYFAULT_THREAD_NAMES_H

#include "base/errors.h"
#include "base/snapshot.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"

/* Fills python_name of every thread of snap, in every interpreter, whose
 * id is a key of its interpreter's threading._active, while the target is
 * stopped.  Completes target's layout first (pf_target_modules_layout).
 * A thread threading does not know (started by _thread, or in an
 * interpreter that never imported threading) keeps no name.  Fails only
 * when the layout lacks what it needs (err says which, for a one-line
 * note) or memory runs out. */
enum pf_status pf_read_python_names(struct pf_mem *mem,
				    struct pf_target *target,
				    struct pf_snapshot *snap,
				    struct pf_error *err);

#endif
