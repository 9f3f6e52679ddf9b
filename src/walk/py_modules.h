/* The "Extension modules" line that faulthandler writes after the threads
 * of a fatal-error dump (CPython 3.10+): the keys of sys.modules whose
 * values are extension modules, less those in sys.stdlib_module_names, read
 * from outside as _Py_DumpExtensionModules (Python/pylifecycle.c) reads them
 * from inside. */
#ifndef PYFAULT_PY_MODULES_H
#define PYFAULT_PY_MODULES_H

#include <stdint.h>

#include "base/errors.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"
#include "base/snapshot.h"

/* A set table larger than this is taken as corrupt: only the first
 * entries are looked at. */
#define PF_MAX_SET_SLOTS (1u << 20)

/* Fills out (empty on entry) with the names _Py_DumpExtensionModules would
 * print for the interpreter at interp (struct pf_snapshot's interp), while
 * the target is stopped.  Completes target's layout first
 * (pf_target_modules_layout).  A version without the line, a NULL or non-dict
 * sys.modules, or unreadable entries give fewer or no names and PF_OK.
 * Fails, with out empty, only when the layout lacks what the line needs
 * (err says which, for a one-line note) or memory runs out. */
enum pf_status pf_read_extension_modules(struct pf_mem *mem,
					 struct pf_target *target,
					 uint64_t interp,
					 struct pf_module_list *out,
					 struct pf_error *err);

#endif
