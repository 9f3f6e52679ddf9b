/* One dump as one JSON document (--format json), on one line: the schema
 * is documented in pyfault-attach(1) and pyfault-watch(1) and versioned by
 * its "schema_version" member. */
#ifndef PYFAULT_DUMP_JSON_H
#define PYFAULT_DUMP_JSON_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "format/dump_reason.h"
#include "base/snapshot.h"

/* Bumped only for changes that break a reader: members are added without
 * bumping it. */
#define PF_JSON_SCHEMA_VERSION 2

/* The process the dump is of, as plain values. */
struct pf_json_process {
	pid_t pid;
	const char *executable;     /* /proc/PID/exe; NULL when unknown */
	const char *interpreter;    /* the ELF file holding the interpreter */
	unsigned major, minor, micro;
	bool micro_known;
	bool debug_build;
	const char *offsets_source; /* pf_layout_source_name() */
	const char *offsets_detail;
};

/* Writes the document for snap (its threads, or only the current one with
 * current_thread_only) and a newline.  tool names the command.  False when
 * out of memory or the write failed. */
bool pf_write_json(FILE *out, const char *tool,
		   const struct pf_json_process *process,
		   const struct pf_dump_reason *reason,
		   const struct pf_snapshot *snap, bool current_thread_only);

/* Appends s to buf as the document writes strings of the target: UTF-8,
 * with each lone surrogate written as the six characters "\udXXX", as
 * Python's backslashreplace error handler writes it; "..." after a
 * string faulthandler cut.  The caller frees *buf. */
bool pf_json_text_utf8(const struct pf_text *text, char **buf, size_t *len);

/* Byte strings (paths, symbols, thread names): valid UTF-8 as it is, every
 * other byte as the four characters "\xNN".  The caller frees *buf. */
bool pf_json_bytes_utf8(const char *s, char **buf, size_t *len);

#endif
