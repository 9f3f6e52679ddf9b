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
	struct pf_layout layout;
};

/* Identifies pid's interpreter and its layout, taken from the most trusted
 * of the allowed sources (PF_SOURCE_BIT set).  mem must be open on pid; the
 * target may be running (nothing read here changes while it runs). */
enum pf_status pf_target_open(struct pf_target *target, pid_t pid,
			      struct pf_mem *mem, unsigned sources,
			      struct pf_error *err);

#endif
