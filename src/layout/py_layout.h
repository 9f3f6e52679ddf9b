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
	PF_FRAMES_OBJECTS,      /* 2.7-3.10: PyFrameObject chain via f_back */
	PF_FRAMES_INTERPRETER,  /* 3.11+: _PyInterpreterFrame chain via previous */
};

/* How the code object maps an instruction offset to a line number. */
enum pf_line_table {
	PF_LINES_LNOTAB,        /* 3.6-3.9: co_lnotab byte pairs, signed line
	                           deltas */
	PF_LINES_PEP626,        /* 3.10: co_linetable (start delta, line delta) pairs */
	PF_LINES_LOCATIONS,     /* 3.11+: co_linetable location entries */
	/* Last: recorded images store these values. */
	PF_LINES_LNOTAB_UNSIGNED, /* 2.7: co_lnotab, unsigned line
	                             deltas */
};

/* Where a dict's entries follow its hash index (DK_ENTRIES). */
enum pf_dict_indices {
	PF_DICT_INDICES_BY_SIZE,   /* 3.8-3.10: dk_size indices of 1, 2, 4 or 8
	                              bytes as dk_size fits 8, 16, 32 bits */
	PF_DICT_INDICES_LOG2_BYTES, /* 3.11+: 1 << dk_log2_index_bytes bytes */
};

/* Where an instance of a Python class keeps its attributes. */
enum pf_instance_dict {
	PF_IDICT_OFFSET,        /* <= 3.10: a dict at tp_dictoffset */
	PF_IDICT_MANAGED_311,   /* 3.11: with Py_TPFLAGS_MANAGED_DICT, a dict
	                           3 words before the object, else values 4
	                           words before it */
	PF_IDICT_MANAGED_312,   /* 3.12: PyDictOrValues 3 words before it,
	                           values when its low bit is set */
	PF_IDICT_INLINE,        /* 3.13+: a dict 3 words before it, else
	                           with Py_TPFLAGS_INLINE_VALUES values at
	                           tp_basicsize */
};

/* How PyDict_Next finds the i-th value of a split table (ma_values set). */
enum pf_dict_split {
	PF_DICT_SPLIT_DENSE,       /* 3.8-3.10: ((PyObject **)ma_values)[i],
	                              key of entry i */
	PF_DICT_SPLIT_ORDER_BEFORE, /* 3.11, 3.12: entry index
	                              ((uint8_t *)ma_values)[-3 - i] */
	PF_DICT_SPLIT_ORDER_AFTER, /* 3.13+: entry index
	                              ((uint8_t *)&values[capacity])[i] */
};

/* Where the interpreter list and the running thread state are. */
enum pf_anchor {
	PF_ANCHOR_RUNTIME,      /* 3.7+: _PyRuntime.interpreters.head */
	PF_ANCHOR_GLOBALS,      /* 2.7, 3.6: the interp_head and
	                           _PyThreadState_Current variables */
};

/* How faulthandler.dump_traceback_later() writes its timeout in the
 * "Timeout (H:MM:SS.ffffff)!" header. */
enum pf_timeout_text {
	PF_TIMEOUT_ROUNDED_UP,  /* 3.7+: microseconds, _PyTime_ROUND_TIMEOUT */
	PF_TIMEOUT_TRUNCATED,   /* 3.6 and 2.7's backport: format_timeout()
	                           of the float, its fraction truncated to
	                           microseconds (the backport accepts only an
	                           int, which gives whole seconds alike) */
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
	enum pf_anchor anchor;
	enum pf_frame_model frame_model;
	enum pf_line_table line_table;

	struct {
		int64_t interpreters_head;  /* _PyRuntime.interpreters.head */
		int64_t gil;                /* _PyRuntime.ceval.gil (3.7-3.11) */
	} runtime;

	struct {
		int64_t next;
		int64_t id;                 /* int64_t id (3.7+): 0 for the
		                               main interpreter */
		int64_t threads_head;       /* tstate_head / threads.head */
		int64_t gil_ptr;            /* ceval.gil pointer (3.12+) */
		int64_t gc_collecting;      /* gc.collecting (3.9+) */
		int64_t modules;            /* PyObject *modules (3.8-3.11),
		                               imports.modules (3.12+) */
		int64_t sysdict;            /* PyObject *sysdict */
	} interp;

	struct {
		int64_t locked;             /* _gil_runtime_state.locked */
		int64_t last_holder;        /* _gil_runtime_state.last_holder */
		int64_t size;               /* sizeof(struct _gil_runtime_state):
		                               a futex inside it is a GIL wait */
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
		int64_t is_entry;           /* bool is_entry (3.11): the first
		                               frame of an evaluation-loop call */
		int64_t stacktop;           /* int stacktop (3.11-3.13): the
		                               value stack's depth past
		                               localsplus */
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

	/* Free-threaded builds (Py_GIL_DISABLED) only; outside
	 * PF_LAYOUT_OFFSET_FIELDS because only _Py_DebugOffsets gives them. */
	struct {
		int64_t tlbc_index;         /* _PyInterpreterFrame.tlbc_index
		                               (int32_t, 3.14t) */
		int64_t co_tlbc;            /* PyCodeObject.co_tlbc, the
		                               _PyCodeArray of per-thread
		                               bytecode copies (3.14t) */
		int64_t gil_enabled;        /* _gil_runtime_state.enabled */
	} ft;

	/* What the task walk (--tasks) reads beyond the thread walk:
	 * generators and coroutines, the task lists, type names and int task
	 * names.  Outside PF_LAYOUT_OFFSET_FIELDS because only
	 * _Py_DebugOffsets (3.14+) gives them. */
	struct {
		int64_t gi_iframe;          /* the embedded _PyInterpreterFrame */
		int64_t gi_frame_state;     /* int8_t */
		int64_t stackpointer;       /* _PyInterpreterFrame.stackpointer,
		                               a _PyStackRef pointer */
		int64_t llist_next;         /* struct llist_node.next */
		int64_t tp_name;            /* PyTypeObject.tp_name */
		int64_t lv_tag;             /* PyLongObject.long_value.lv_tag */
		int64_t ob_digit;           /* PyLongObject.long_value.ob_digit */
	} coro;

	/* Generators and coroutines of 3.11-3.13, from DWARF (3.14+ has
	 * coro above): an await chain is followed through them. */
	struct {
		int64_t gi_iframe;          /* the embedded _PyInterpreterFrame */
		int64_t gi_frame_state;     /* int8_t */
	} gen;

	struct {
		int64_t wr_object;          /* PyWeakReference: the referent */
	} weakref;

	struct {
		int64_t ob_type;
	} object;

	struct {
		int64_t tp_flags;
		int64_t tp_base;
		int64_t tp_basicsize;       /* where 3.13+ inline values start */
		int64_t tp_dictoffset;      /* an instance's __dict__ (<= 3.10) */
	} type;

	struct {
		int64_t ht_cached_keys;     /* the keys of instances' split
		                               values (3.11+) */
	} heap_type;

	struct {
		int64_t ob_size;            /* signed digit count (<= 3.11) */
		int64_t lv_tag;             /* digit count and sign (3.12+) */
		int64_t ob_digit;
	} long_obj;

	struct {
		int64_t ob_ival;            /* 2.7's PyIntObject */
	} int_obj;

	/* What --locals reads: a frame's fast locals, their names, and the
	 * values it shows. */
	struct {
		int64_t localsplus;         /* f_localsplus (<= 3.10),
		                               localsplus (3.11+) */
		int64_t names;              /* co_localsplusnames (3.11+) */
		int64_t kinds;              /* co_localspluskinds (3.11+) */
		int64_t varnames;           /* co_varnames (<= 3.10) */
		int64_t cellvars;
		int64_t freevars;
		int64_t nlocals;            /* int co_nlocals (<= 3.10) */
	} locals;

	struct {
		int64_t tp_name;
	} type_name;

	struct {
		int64_t ob_size;
		int64_t ob_item;            /* PyObject *ob_item[] */
	} tuple;

	struct {
		int64_t ob_size;
		int64_t ob_item;            /* PyObject **ob_item */
	} list;

	struct {
		int64_t ob_fval;
	} float_obj;

	struct {
		int64_t ob_ref;
	} cell;

	struct {
		int64_t used;
	} set_used;

	struct {
		int64_t ob_size;
		int64_t ob_sval;
	} bytes;                            /* PyBytesObject, 2.7's
	                                       PyStringObject */

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

	/* The dict, module and set internals that _Py_DumpExtensionModules
	 * reads (3.10+): PyDict_Next, _PyModule_IsExtension,
	 * _PySet_NextEntry. */
	struct {
		int64_t ma_used;
		int64_t ma_keys;
		int64_t ma_values;
		int64_t ma_mask;            /* 2.7's open table */
		int64_t ma_table;
	} dict;

	struct {
		int64_t dk_size;            /* Py_ssize_t dk_size (3.8-3.10) */
		int64_t dk_log2_index_bytes; /* uint8_t (3.11+) */
		int64_t dk_kind;            /* uint8_t (3.11+) */
		int64_t dk_nentries;
		int64_t dk_indices;
	} dict_keys;

	struct {
		int64_t me_key;
		int64_t me_value;
		int64_t size;               /* sizeof(PyDictKeyEntry) */
	} dict_entry;

	struct {
		int64_t me_key;
		int64_t me_value;
		int64_t size;               /* sizeof(PyDictUnicodeEntry),
		                               3.11+ */
	} dict_unicode_entry;

	struct {
		int64_t capacity;           /* uint8_t capacity (3.13+) */
		int64_t values;             /* PyObject *values[] (3.11+) */
	} dict_values;

	struct {
		int64_t md_def;
		int64_t md_dict;
	} module;

	struct {
		int64_t m_methods;
	} module_def;

	struct {
		int64_t mask;
		int64_t table;
	} set;

	struct {
		int64_t key;
		int64_t size;               /* sizeof(setentry) */
	} set_entry;

	/* Py_GIL_DISABLED, from _Py_DebugOffsets.free_threaded (3.13+). */
	bool free_threaded;
	/* gi_frame_state of a generator suspended in a yield from (an
	 * await): FRAME_SUSPENDED_YIELD_FROM (3.13+). */
	int frame_suspended_yield_from;
	/* 3.11, 3.12: a generator suspended in a yield from sits at
	 * FRAME_SUSPENDED with a RESUME of oparg >= 2 after its prev_instr
	 * (_PyGen_yf), or the form the interpreter gave it: RESUME_QUICK
	 * (3.11), INSTRUMENTED_RESUME (3.12); -1 where unused. */
	int frame_suspended;
	int resume_opcode;
	int resume_opcode_alt;
	/* Bits of a _PyStackRef (3.14+ f_executable) that tag it rather than
	 * address the object; 0 where f_executable is a plain pointer. */
	uint64_t code_tag_mask;
	/* The owner of shim frames faulthandler does not print:
	 * FRAME_OWNED_BY_CSTACK (3.12, 3.13), FRAME_OWNED_BY_INTERPRETER
	 * (3.14); -1 where there are none. */
	int owner_cstack;
	/* Skip shim frames also when they are the newest (3.12.8+). */
	bool skip_cstack_on_top;
	/* A skipped shim frame still counts towards the 100-frame limit
	 * (3.14.1+, where dump_frame() ignores it instead of the loop). */
	bool shim_frames_counted;
	/* " [thread name]" after the thread id in the header (3.14+). */
	bool thread_names;
	/* A fatal-signal dump ends with "Current thread's C stack trace"
	 * (3.14+: faulthandler.enable(c_stack=True) by default). */
	bool native_by_default;
	/* A fatal signal in a free-threaded build running without the GIL
	 * dumps only the faulting thread, after "<Cannot show all threads
	 * while the GIL is disabled>" (deduce_all_threads(), 3.14t). */
	bool fatal_current_without_gil;
	/* Frame-limit marker: "  ...\n" after 100 frames (<= 3.12); 3.13 stops
	 * silently. */
	bool frame_limit_marker;
	/* "<no Python frame>" under a thread without frames (3.8+); before,
	 * its header stands alone. */
	bool no_frame_line;
	/* Indentation of "<no Python frame>": 3.8, 3.9 print it unindented. */
	bool no_frame_indented;
	/* 2.7's faulthandler backport: co_filename and co_name are
	 * PyStringObject (bytes), and every thread header ends with the
	 * " <name>" of the thread that writes the dump. */
	bool code_names_bytes;
	bool thread_name_suffix;
	/* The backport dumps a timeout from a SIGALRM handler, in the thread
	 * that takes the signal, which is then "Current thread"; 3.x uses a
	 * watchdog thread without a thread state. */
	bool timeout_by_alarm;
	/* How its timeout header writes the seconds it was given. */
	enum pf_timeout_text timeout_text;
	/* "  Garbage-collecting" under the current thread (3.10+). */
	bool gc_line;
	/* SIGFPE is "Floating-point exception" from 3.12.5 on. */
	bool fpe_hyphenated;
	/* A fatal-signal dump ends with "Extension modules: ..." (3.10+). */
	bool extension_modules_trailer;
	/* Where a dict's entries start after dk_indices. */
	enum pf_dict_indices dict_indices;
	/* DICT_KEYS_GENERAL, the dk_kind whose entries are PyDictKeyEntry
	 * (every other kind holds PyDictUnicodeEntry); -1 where every keys
	 * object holds PyDictKeyEntry (no dk_kind). */
	int dict_keys_general;
	/* How a split table's values are put in insertion order. */
	enum pf_dict_split dict_split;
	/* 2.7's dict: ma_mask + 1 PyDictEntry slots at ma_table, no
	 * separate index. */
	bool dict_open_table;
	enum pf_instance_dict instance_dict;

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
	X(interp, id)                                                        \
	X(interp, threads_head)                                              \
	X(interp, gil_ptr)                                                   \
	X(interp, gc_collecting)                                             \
	X(interp, modules)                                                   \
	X(interp, sysdict)                                                   \
	X(gil, locked)                                                       \
	X(gil, last_holder)                                                  \
	X(gil, size)                                                         \
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
	X(frame, is_entry)                                                   \
	X(frame, stacktop)                                                   \
	X(frame, size)                                                       \
	X(code, filename)                                                    \
	X(code, name)                                                        \
	X(code, firstlineno)                                                 \
	X(code, linetable)                                                   \
	X(code, code_adaptive)                                               \
	X(code, size)                                                        \
	X(gen, gi_iframe)                                                    \
	X(gen, gi_frame_state)                                               \
	X(weakref, wr_object)                                                \
	X(object, ob_type)                                                   \
	X(type, tp_flags)                                                    \
	X(type, tp_base)                                                     \
	X(type, tp_basicsize)                                                \
	X(type, tp_dictoffset)                                               \
	X(heap_type, ht_cached_keys)                                         \
	X(long_obj, ob_size)                                                 \
	X(long_obj, lv_tag)                                                  \
	X(long_obj, ob_digit)                                                \
	X(int_obj, ob_ival)                                                  \
	X(locals, localsplus)                                                \
	X(locals, names)                                                     \
	X(locals, kinds)                                                     \
	X(locals, varnames)                                                  \
	X(locals, cellvars)                                                  \
	X(locals, freevars)                                                  \
	X(locals, nlocals)                                                   \
	X(type_name, tp_name)                                                \
	X(tuple, ob_size)                                                    \
	X(tuple, ob_item)                                                    \
	X(list, ob_size)                                                     \
	X(list, ob_item)                                                     \
	X(float_obj, ob_fval)                                                \
	X(cell, ob_ref)                                                      \
	X(set_used, used)                                                    \
	X(bytes, ob_size)                                                    \
	X(bytes, ob_sval)                                                    \
	X(unicode, length)                                                   \
	X(unicode, state)                                                    \
	X(unicode, ascii_size)                                               \
	X(unicode, compact_size)                                             \
	X(unicode, data)                                                     \
	X(dict, ma_used)                                                     \
	X(dict, ma_keys)                                                     \
	X(dict, ma_values)                                                   \
	X(dict, ma_mask)                                                     \
	X(dict, ma_table)                                                    \
	X(dict_keys, dk_size)                                                \
	X(dict_keys, dk_log2_index_bytes)                                    \
	X(dict_keys, dk_kind)                                                \
	X(dict_keys, dk_nentries)                                            \
	X(dict_keys, dk_indices)                                             \
	X(dict_entry, me_key)                                                \
	X(dict_entry, me_value)                                              \
	X(dict_entry, size)                                                  \
	X(dict_unicode_entry, me_key)                                        \
	X(dict_unicode_entry, me_value)                                      \
	X(dict_unicode_entry, size)                                          \
	X(dict_values, capacity)                                             \
	X(dict_values, values)                                               \
	X(module, md_def)                                                    \
	X(module, md_dict)                                                   \
	X(module_def, m_methods)                                             \
	X(set, mask)                                                         \
	X(set, table)                                                        \
	X(set_entry, key)                                                    \
	X(set_entry, size)

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

/* The newest minor version of 3.x whose layout rules pyfault knows.  A newer
 * one is read with these rules, only through _Py_DebugOffsets, and with a
 * warning. */
#define PF_NEWEST_KNOWN_MINOR 14u

/* Marks layout as describing a free-threaded build: the PyASCIIObject.state
 * bits move (interned is a byte of its own there). */
void pf_layout_set_free_threaded(struct pf_layout *layout);

/* Every offset the walker will use for this version is present. */
bool pf_layout_complete(const struct pf_layout *layout, const char **missing);

/* Every offset that reading threading's thread names needs is present:
 * sys.modules, dicts, module dicts, instance attributes, ints. */
bool pf_layout_names_complete(const struct pf_layout *layout,
			      const char **missing);

/* Every offset --locals needs is present (with the names' ones). */
bool pf_layout_locals_complete(const struct pf_layout *layout,
			       const char **missing);

/* Every offset the "Extension modules" trailer needs is present (true, with
 * nothing to check, for versions without the trailer).  Not part of
 * pf_layout_complete: threads can be dumped without them. */
bool pf_layout_modules_complete(const struct pf_layout *layout,
				const char **missing);

/* --offsets=NAME: auto, debug-offsets, dwarf or table, as a set of
 * sources; false for another name. */
bool pf_layout_parse_sources(const char *name, unsigned *sources);

const char *pf_layout_source_name(enum pf_layout_source source);

#endif
