/* Structure offsets of one CPython build: everything the walker needs to know
 * about the target's memory layout, as data.  One walker serves every
 * version; it never branches on the version number, only on these fields. */
#ifndef PYFAULT_PY_LAYOUT_H
#define PYFAULT_PY_LAYOUT_H

#include <stdbool.h>
#include <stdint.h>

/* Marks a field that this build does not have. */
#define PF_NO_OFFSET INT64_MIN

/* How the walker finds a thread's newest frame and steps to the next one. */
enum pf_frame_model {
	PF_FRAMES_OBJECTS,      /* 3.8-3.10: PyFrameObject chain via f_back */
	PF_FRAMES_INTERPRETER,  /* 3.11+: _PyInterpreterFrame chain via previous */
};

/* How the code object maps an instruction offset to a line number. */
enum pf_line_table {
	PF_LINES_LNOTAB,        /* 3.8, 3.9: co_lnotab byte pairs */
	PF_LINES_PEP626,        /* 3.10: co_linetable (start delta, line delta) pairs */
	PF_LINES_LOCATIONS,     /* 3.11+: co_linetable location entries */
};

enum pf_layout_source {
	PF_SOURCE_NONE,
	PF_SOURCE_DEBUG_OFFSETS, /* _Py_DebugOffsets inside _PyRuntime (3.13+) */
	PF_SOURCE_DWARF,         /* DWARF of the target's own interpreter */
	PF_SOURCE_TABLE,         /* table shipped with pyfault, generated from DWARF */
};

/* Sets of sources, to let the user pin one. */
#define PF_SOURCE_BIT(source) (1u << (source))
#define PF_SOURCES_ALL                                                        \
	(PF_SOURCE_BIT(PF_SOURCE_DEBUG_OFFSETS) |                              \
	 PF_SOURCE_BIT(PF_SOURCE_DWARF) | PF_SOURCE_BIT(PF_SOURCE_TABLE))

struct pf_layout {
	unsigned major, minor;
	enum pf_frame_model frame_model;
	enum pf_line_table line_table;

	struct {
		int64_t interpreters_head;  /* _PyRuntime.interpreters.head */
		int64_t gil;                /* _PyRuntime.ceval.gil (3.8-3.11) */
	} runtime;

	struct {
		int64_t next;
		int64_t threads_head;       /* tstate_head / threads.head */
		int64_t gil_ptr;            /* ceval.gil pointer (3.12+) */
		int64_t gc_collecting;      /* gc.collecting (3.9+) */
	} interp;

	struct {
		int64_t locked;             /* _gil_runtime_state.locked */
		int64_t last_holder;        /* _gil_runtime_state.last_holder */
	} gil;

	struct {
		int64_t next;
		int64_t interp;
		int64_t thread_id;
		int64_t frame;              /* PyFrameObject *frame (3.8-3.10),
		                               current_frame (3.13+) */
		int64_t cframe;             /* _PyCFrame *cframe (3.11, 3.12) */
	} tstate;

	struct {
		int64_t current_frame;      /* _PyCFrame.current_frame (3.11, 3.12) */
	} cframe;

	struct {
		int64_t back;               /* f_back / previous */
		int64_t code;               /* f_code / f_executable */
		int64_t lasti;              /* int f_lasti (3.8-3.10) */
		int64_t lineno;             /* int f_lineno (3.10 prefers it) */
		int64_t instr;              /* prev_instr / instr_ptr (3.11+) */
		int64_t owner;              /* char owner (3.12+) */
		int64_t size;               /* bytes to read at once */
		unsigned lasti_scale;       /* bytes per f_lasti unit */
		bool use_f_lineno;          /* 3.10: f_lineno wins when non-zero */
	} frame;

	struct {
		int64_t filename;
		int64_t name;
		int64_t firstlineno;
		int64_t linetable;          /* co_lnotab / co_linetable */
		int64_t code_adaptive;      /* co_code_adaptive (3.11+) */
		int64_t size;               /* bytes to read at once */
	} code;

	struct {
		int64_t ob_type;
	} object;

	struct {
		int64_t tp_flags;
	} type;

	struct {
		int64_t ob_size;
		int64_t ob_sval;
	} bytes;

	struct {
		int64_t length;
		int64_t state;
		int64_t ascii_size;         /* sizeof(PyASCIIObject) */
		int64_t compact_size;       /* sizeof(PyCompactUnicodeObject) */
		int64_t data;               /* PyUnicodeObject.data.any */
		unsigned kind_shift;        /* bit position of state.kind */
		unsigned compact_shift;     /* bit position of state.compact */
		unsigned ascii_shift;       /* bit position of state.ascii */
	} unicode;

	/* FRAME_OWNED_BY_CSTACK: shim frames faulthandler does not print. */
	int owner_cstack;
	/* Skip C-stack-owned frames also when they are the newest (3.12.8+). */
	bool skip_cstack_on_top;
	/* Frame-limit marker: "  ...\n" after 100 frames (<= 3.12); 3.13 stops
	 * silently. */
	bool frame_limit_marker;
	/* Indentation of "<no Python frame>": 3.8, 3.9 print it unindented. */
	bool no_frame_indented;
	/* "  Garbage-collecting" under the current thread (3.10+). */
	bool gc_line;
	/* SIGFPE is "Floating-point exception" from 3.12.5 on. */
	bool fpe_hyphenated;

	enum pf_layout_source source;
	char source_detail[256];    /* e.g. the debug file that gave the DWARF */
};

/* Every int64_t offset of struct pf_layout, as X(group, field).  One list
 * keeps the initialisation, the shipped table's rows, the generator's
 * printer and the tests in step: a field added here reaches all of them. */
#define PF_LAYOUT_OFFSET_FIELDS(X)                                           \
	X(runtime, interpreters_head)                                        \
	X(runtime, gil)                                                      \
	X(interp, next)                                                      \
	X(interp, threads_head)                                              \
	X(interp, gil_ptr)                                                   \
	X(interp, gc_collecting)                                             \
	X(gil, locked)                                                       \
	X(gil, last_holder)                                                  \
	X(tstate, next)                                                      \
	X(tstate, interp)                                                    \
	X(tstate, thread_id)                                                 \
	X(tstate, frame)                                                     \
	X(tstate, cframe)                                                    \
	X(cframe, current_frame)                                             \
	X(frame, back)                                                       \
	X(frame, code)                                                       \
	X(frame, lasti)                                                      \
	X(frame, lineno)                                                     \
	X(frame, instr)                                                      \
	X(frame, owner)                                                      \
	X(frame, size)                                                       \
	X(code, filename)                                                    \
	X(code, name)                                                        \
	X(code, firstlineno)                                                 \
	X(code, linetable)                                                   \
	X(code, code_adaptive)                                               \
	X(code, size)                                                        \
	X(object, ob_type)                                                   \
	X(type, tp_flags)                                                    \
	X(bytes, ob_size)                                                    \
	X(bytes, ob_sval)                                                    \
	X(unicode, length)                                                   \
	X(unicode, state)                                                    \
	X(unicode, ascii_size)                                               \
	X(unicode, compact_size)                                             \
	X(unicode, data)

/* The bit positions in PyASCIIObject.state that DWARF also describes. */
#define PF_LAYOUT_SHIFT_FIELDS(X)                                            \
	X(unicode, kind_shift)                                               \
	X(unicode, compact_shift)                                            \
	X(unicode, ascii_shift)

/* Fills the version-dependent constants (models, bit positions, markers)
 * that no struct offset expresses, for major.minor.micro.  Returns false for
 * versions the walker does not know. */
bool pf_layout_init_version(struct pf_layout *layout, unsigned major,
			    unsigned minor, unsigned micro);

/* Every offset the walker will use for this version is present. */
bool pf_layout_complete(const struct pf_layout *layout, const char **missing);

const char *pf_layout_source_name(enum pf_layout_source source);

#endif
