/* Recognising a CPython process from outside: which ELF object holds the
 * interpreter, where _PyRuntime is, the exact version, and the layout to
 * read it with, from the most trusted source that has one. */
#ifndef PYFAULT_PY_TARGET_H
#define PYFAULT_PY_TARGET_H

#include <stdint.h>
#include <sys/types.h>

#include "errors.h"
#include "py_layout.h"
#include "remote_mem.h"

struct pf_target {
	pid_t pid;
	char object_path[4096];   /* the interpreter's ELF, as mapped */
	uint64_t runtime;         /* run-time address of _PyRuntime */
	unsigned major, minor, micro;
	bool micro_known;         /* Py_Version exists only from 3.11 */
	bool debug_build;         /* Py_DEBUG: object headers and structs differ */
	bool free_threaded;       /* Py_GIL_DISABLED (3.13t, 3.14t) */
	/* Set when the target can be read but the user should know why the
	 * dump may be wrong (a Python newer than pyfault); "" otherwise. */
	char warning[256];
	/* Run-time addresses of the static type objects that
	 * _Py_DumpExtensionModules compares against; 0 when not found. */
	uint64_t module_type;     /* PyModule_Type */
	uint64_t frozenset_type;  /* PyFrozenSet_Type */
	unsigned sources;         /* the layout sources it may use */
	bool modules_layout_tried; /* pf_target_modules_layout has run */
	struct pf_layout layout;
};

/* Identifies pid's interpreter and its layout, taken from the most trusted
 * of the allowed sources (PF_SOURCE_BIT set).  mem must be open on pid; the
 * target may be running (nothing read here changes while it runs). */
enum pf_status pf_target_open(struct pf_target *target, pid_t pid,
			      struct pf_mem *mem, unsigned sources,
			      struct pf_error *err);

/* Fills what the "Extension modules" line needs and the chosen layout
 * source lacks -- 3.13's _Py_DebugOffsets describe no dict, module or set
 * internals -- from the target's own DWARF when it has some (never from
 * the shipped table, which describes another build).  Runs once per
 * target, on first use: dumps that never print the line do not pay for
 * reading DWARF. */
void pf_target_modules_layout(struct pf_target *target);

#endif
