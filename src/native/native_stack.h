/* The C frames of every thread of a snapshot, unwound while the target is
 * still stopped, named once it runs again. */
#ifndef PYFAULT_NATIVE_STACK_H
#define PYFAULT_NATIVE_STACK_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/errors.h"
#include "native/native_symbols.h"
#include "native/native_unwind.h"
#include "base/snapshot.h"

/* Fills native/nnative of each thread of snap (outside included) whose OS
 * thread is known with the frames' addresses; every one of those threads
 * must be ptrace-stopped.  A thread whose stack cannot be read keeps
 * nnative 0.  *symbolizer receives what names the frames, for
 * pf_name_native_frames and pf_add_source_lines; close it with
 * pf_symbolizer_close.
 * Fails (*symbolizer NULL) only when the process's objects cannot be
 * listed or memory runs out. */
enum pf_status pf_collect_native(struct pf_snapshot *snap, pid_t pid,
				 struct pf_symbolizer **symbolizer,
				 struct pf_error *err);

/* The same for the current thread alone, as faulthandler's c_stack. */
enum pf_status pf_collect_native_current(struct pf_snapshot *snap, pid_t pid,
					 struct pf_symbolizer **symbolizer,
					 struct pf_error *err);

/* The same from a core file: threads unwound by unwinder, then named by
 * symbolizer (both the caller's); every thread, or the current one. */
enum pf_status pf_collect_native_with(struct pf_snapshot *snap,
				      struct pf_unwinder *unwinder,
				      struct pf_symbolizer *symbolizer,
				      bool current_only, struct pf_error *err);

/* Names the object and function of each C frame of snap.  It reads files
 * only, so the target need not be stopped any more.  False when out of
 * memory. */
bool pf_name_native_frames(struct pf_symbolizer *symbolizer,
			   struct pf_snapshot *snap);

/* Adds the source file and line of each C frame of snap (named first),
 * except those of the object except_in (NULL: none; the merged view hides
 * the interpreter's).  This reads DWARF, often compressed, which costs more
 * than all the rest; it reads files only, so the target need not be
 * stopped any more.  False when out of memory. */
bool pf_add_source_lines(struct pf_symbolizer *symbolizer,
			 struct pf_snapshot *snap, const char *except_in);

#endif
