/* Recognising a CPython process from outside: which ELF object holds the
 * interpreter, where _PyRuntime (or, before 3.7, the interpreter list) is,
 * the exact version, and the layout to
 * read it with, from the most trusted source that has one. */
#ifndef PYFAULT_PY_TARGET_H
#define PYFAULT_PY_TARGET_H

#include <stdint.h>
#include <sys/types.h>

#include "base/errors.h"
#include "layout/layout_dwarf.h"
#include "layout/py_layout.h"
#include "process/remote_mem.h"
#include "process/target_file.h"

/* Static objects and types of the interpreter (symbols of its ELF). */
struct pf_object_types {
	uint64_t none, true_obj, false_obj;
	uint64_t int_type;        /* 2.7's int */
	uint64_t long_type;       /* 3.x's int, 2.7's long */
	uint64_t float_type;
	uint64_t str_type;        /* PyUnicode_Type; 2.7's PyString_Type */
	uint64_t bytes_type;      /* 3.x only */
	uint64_t tuple_type, list_type, dict_type, set_type, frozenset_type;
	uint64_t cell_type;
	uint64_t set_dummy;       /* &_PySet_Dummy, which points at the
	                             key of deleted set entries (3.x) */
};

/* Where pf_target_open may look for offsets: the user's choices. */
struct pf_offsets_config {
	unsigned sources;           /* the layout sources it may use
				       (PF_SOURCE_BIT set) */
	const char *debuginfo_path; /* elfutils' search path for separate
				       debug files; NULL: its default */
	bool no_cache;              /* neither read nor write the cache of
				       offsets derived from DWARF */
};

struct pf_target {
	pid_t pid;
	char object_path[4096];   /* the interpreter's ELF, as the target
	                             names it */
	struct pf_target_file file; /* where pyfault reads that ELF */
	uint64_t runtime;         /* run-time address of _PyRuntime, 0 before
	                             3.7 */
	uint64_t interp_head;     /* address of the pointer to the newest
	                             interpreter */
	uint64_t tstate_current;  /* address of _PyThreadState_Current, where
	                             it tells who runs (2.7, 3.6); else 0 */
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
	/* The types whose objects an await chain goes through (--tasks). */
	uint64_t coro_type;       /* PyCoro_Type */
	uint64_t gen_type;        /* PyGen_Type */
	/* The objects --locals shows by value, by address; 0 when not
	 * found. */
	struct pf_object_types types;
	unsigned sources;         /* the layout sources it may use */
	const char *debuginfo_path; /* as in pf_offsets_config */
	bool no_cache;
	char build_id[129];       /* of the interpreter's ELF, hex; "" if none */
	char root[4200];          /* as pf_target_view's root; "" if none */
	double offsets_ms;        /* time taken to find the layout */
	/* Why the offset cache could not be read or written, for -v; the
	 * dump goes on without it. */
	char cache_note[512];
	bool dwarf_fill_tried;    /* pf_target_modules_layout or
	                             pf_target_registry_layout read DWARF */
	struct pf_layout layout;
};

/* Where a target's mappings and files come from: a live process (/proc/PID)
 * or a core file. */
struct pf_target_view {
	pid_t pid;                      /* names the process in messages */
	const struct pf_maps *maps;
	/* The main executable as the target names it; NULL: unknown, and
	 * exe_err says why. */
	const char *executable;
	struct pf_error exe_err;
	/* What paths of the target's files are read under ("/proc/PID/root",
	 * a --sysroot): taken off the layout's source detail, which the
	 * offset cache keeps.  NULL: none. */
	const char *root;
	/* Finds the file of mapping m where pyfault can read it. */
	enum pf_status (*find_file)(const struct pf_target_view *view,
				    const struct pf_mapping *m,
				    struct pf_target_file *file,
				    struct pf_error *err);
	void *ctx;                      /* find_file's */
};

/* Identifies the interpreter of the target view shows and its layout, as
 * pf_target_open does; mem reads the target's memory. */
enum pf_status pf_target_open_view(struct pf_target *target,
				   const struct pf_target_view *view,
				   struct pf_mem *mem,
				   const struct pf_offsets_config *config,
				   struct pf_error *err);

/* Identifies pid's interpreter and its layout, taken from the most trusted
 * of the sources config allows.  Offsets derived from DWARF come from the
 * offset cache when it has this build's (see offset_cache.h), and are
 * written there otherwise.  mem must be open on pid; the target may be
 * running (nothing read here changes while it runs).  config's strings
 * must outlive target. */
enum pf_status pf_target_open(struct pf_target *target, pid_t pid,
			      struct pf_mem *mem,
			      const struct pf_offsets_config *config,
			      struct pf_error *err);

/* Whether path names a libpython: libpython3.11.so.1.0, libpython3.6m.so,
 * libpython2.7.so.1.0. */
bool pf_is_libpython(const char *path);

/* Fills what the "Extension modules" line and the Python thread names
 * need and the chosen layout source lacks -- 3.13's _Py_DebugOffsets
 * describe no dict, module or set internals -- from the target's own
 * DWARF when it has some (never from
 * the shipped table, which describes another build).  Runs once per
 * target, on first use: dumps that never print the line do not pay for
 * reading DWARF. */
void pf_target_modules_layout(struct pf_target *target);

/* The same for asyncio.tasks' registry (--tasks on 3.11-3.13, and on
 * 3.14+ without _asyncio): weak references, sets, generators' frames,
 * which no debug offset describes. */
void pf_target_registry_layout(struct pf_target *target);

/* pf_dwarf_unit_members for target t of the object at elf_path whose
 * build-id is build_id ("": none), through the offset cache under kind
 * (see pf_member_cache_load) as t's own layout: an entry gives the members
 * without reading DWARF, else they are read and the entry written.  where
 * gets the file the DWARF came from, and ", from the cache in DIR" when it
 * came from there; why the cache went unused goes to t->cache_note. */
enum pf_status pf_target_unit_members(struct pf_target *t,
				      const char *elf_path,
				      const char *build_id, const char *kind,
				      const char *unit_suffix,
				      struct pf_dwarf_member *members, size_t n,
				      char *where, size_t where_size,
				      struct pf_error *err);

#endif
