/* faulthandler's text, byte for byte, from a snapshot: the only module that
 * writes dumps.  Mirrors Python/traceback.c (_Py_DumpTracebackThreads,
 * dump_traceback, dump_frame, _Py_DumpASCII). */
#ifndef PYFAULT_FH_FORMAT_H
#define PYFAULT_FH_FORMAT_H

#include <stdbool.h>
#include <stdio.h>

#include "native/native_merge.h"
#include "layout/py_layout.h"
#include "base/snapshot.h"

/* What differs between versions in the text itself. */
struct pf_style {
	bool frame_limit_marker;  /* "  ...\n" after PF_MAX_FRAME_DEPTH frames */
	bool no_frame_line;       /* "<no Python frame>" for a thread without
	                             frames (3.8+) */
	bool no_frame_indented;   /* "  <no Python frame>" rather than
	                             "<no Python frame>" */
	bool gc_line;             /* "  Garbage-collecting" under the current
	                             thread's header */
	bool fpe_hyphenated;      /* "Floating-point exception" (3.12.5+) */
	bool thread_name_suffix;  /* " <name>" of the dumping thread after
	                             each thread id (2.7's backport) */
	bool thread_names;        /* " [name]" after the thread id (3.14+) */
	/* pyfault's own: ' "NAME"' of threading's Thread after the thread
	 * id and its OS name (--native=merged). */
	bool python_names;
	/* --locals: each frame's "    NAME = VALUE" lines. */
	bool locals;
};

/* "Fatal Python error: Segmentation fault\n\n" and the like, for the
 * signals faulthandler.enable() handles.  Returns false (and writes nothing)
 * for any other signal. */
bool pf_format_fatal_header(FILE *out, int signum,
			    const struct pf_style *style);

/* A timeout of seconds in whole microseconds, rounded up as
 * _PyTime_ROUND_TIMEOUT rounds it (3.7+). */
uint64_t pf_timeout_us(double seconds);

/* "Timeout (H:MM:SS[.ffffff])!\n" for a timeout of seconds, written as the
 * version's faulthandler writes it. */
void pf_format_timeout_header(FILE *out, double seconds,
			      enum pf_timeout_text text);

/* "<Cannot show all threads while the GIL is disabled>", which a fatal
 * error of a free-threaded build running without the GIL prints before the
 * faulting thread alone (3.14t). */
void pf_format_gil_disabled_notice(FILE *out);

/* Every thread, newest first, as faulthandler's all_threads=True. */
void pf_format_threads(FILE *out, const struct pf_snapshot *snap,
		       const struct pf_style *style);

/* One thread as faulthandler's all_threads=False:
 * "Stack (most recent call first):" and its frames. */
void pf_format_stack(FILE *out, const struct pf_thread_dump *thread,
		     const struct pf_style *style);

/* Every thread as pf_format_threads, each with one stack of C and Python
 * frames as merges[i] (for snap->threads[i]) puts them; see
 * pf_format_merged_frames. */
void pf_format_threads_merged(FILE *out, const struct pf_snapshot *snap,
			      const struct pf_merged *merges,
			      const struct pf_style *style);

/* "Interpreter ID:\n", or "Interpreter at 0xADDR:\n" where the version
 * gives interpreters no id. */
void pf_format_interpreter_name(FILE *out,
				const struct pf_interp_dump *interp);

/* The threads of an interpreter besides the main one, in faulthandler's
 * format, after a header that names it:
 *   "\nInterpreter ID:\n", or "\nInterpreter at 0xADDR:\n" without an id.
 * merges as for pf_format_threads_merged, NULL to not merge. */
void pf_format_interpreter(FILE *out, const struct pf_snapshot *snap,
			   const struct pf_interp_dump *interp,
			   const struct pf_merged *merges,
			   const struct pf_style *style);

/* "\n<more interpreters not shown>\n" after the last interpreter shown,
 * when there are more than PF_MAX_INTERPRETERS. */
void pf_format_interpreters_truncated(FILE *out,
				      const struct pf_snapshot *snap);

/* One thread as pf_format_stack, its frames merged. */
void pf_format_stack_merged(FILE *out, const struct pf_thread_dump *thread,
			    const struct pf_merged *merged,
			    const struct pf_style *style);

/* A thread's C stack as faulthandler 3.14's _Py_DumpStack writes it,
 * after a blank line: "Current thread's C stack trace (most recent call
 * first):" (or "C stack trace of thread 0x... (most recent call first):"
 * for another thread), then one line per frame:
 *   Binary file "OBJECT", at SYMBOL+0xOFFSET [0xPC]
 * "at +0xOFFSET" from the load bias without a symbol, no "at" with neither,
 * "Binary file '<unknown>' [0xPC]" outside any object. */
void pf_format_native_stack(FILE *out, const struct pf_thread_dump *thread);

/* "\nExtension modules: a, b (total: 2)\n", as _Py_DumpExtensionModules
 * (Python/pylifecycle.c, 3.10+) ends a fatal-error dump; nothing for an
 * empty list. */
void pf_format_extension_modules(FILE *out,
				 const struct pf_module_list *modules);

/* One frame as dump_frame() writes it:
 * '  File "FILE", line N in NAME' and a newline. */
void pf_format_frame(FILE *out, const struct pf_frame *frame);

/* A str as _Py_DumpASCII writes it: printable ASCII raw, everything else
 * escaped, "..." after a cut. */
void pf_format_text(FILE *out, const struct pf_text *text);

/* The same in double quotes, '"' and '\' escaped too ("\x22"). */
void pf_format_quoted(FILE *out, const struct pf_text *text);

#endif
