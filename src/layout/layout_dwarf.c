#include "layout/layout_dwarf.h"

#include <dwarf.h>
#include <gelf.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "elf/debuginfo.h"
#include "elf/dw_lib.h"
#include "elf/elf_lib.h"

/* The structs whose definitions we need. */
enum want_id {
	W_NONE,         /* index 0: lets a spec leave "needs" out */
	W_RUNTIME,
	W_INTERP,
	W_GIL,
	W_TSTATE,
	W_CFRAME,
	W_FRAME_OBJECT,
	W_IFRAME,
	W_CODE,
	W_OBJECT,
	W_TYPE,
	W_BYTES,
	W_STRING,
	W_ASCII,
	W_COMPACT,
	W_UNICODE,
	W_DICT,
	W_DICT_KEYS,
	W_DICT_ENTRY,
	W_DICT_UNICODE_ENTRY,
	W_DICT_VALUES,
	W_MODULE,
	W_MODULE_DEF,
	W_SET,
	W_SET_ENTRY,
	W_HEAP_TYPE,
	W_LONG,
	W_INT,
	W_DICT_ENTRY_27,
	W_TUPLE,
	W_LIST,
	W_FLOAT,
	W_CELL,
	W_GEN,
	W_WEAKREF,
	W_COUNT
};

#define ANY_MODEL (-1)

struct want {
	const char *tag;          /* struct tag, or NULL when anonymous */
	const char *type_name;    /* typedef name, or NULL */
	unsigned first_minor;     /* of Python 3.x: versions that have it */
	unsigned last_minor;
	int frame_model;          /* the frame model that needs it */
	bool optional;            /* only for the "Extension modules"
				     trailer and Python thread names: its
				     absence leaves their fields
				     PF_NO_OFFSET, not the DWARF unusable */
};

/* Naming a struct by tag and by typedef: several are anonymous structs
 * behind a typedef (PyASCIIObject, PyCodeObject before 3.11), and a CU that
 * only uses the typedef may still name the tag.  The version ranges matter
 * for speed only: the scan stops once every wanted struct is found, so a
 * struct the version lacks must not be wanted. */
static const struct want wants[W_COUNT] = {
	[W_RUNTIME] = {"pyruntimestate", "_PyRuntimeState", 7, 99, ANY_MODEL, false},
	[W_INTERP] = {"_is", "PyInterpreterState", 6, 99, ANY_MODEL, false},
	/* Before 3.7 the GIL is a set of static variables, not a struct. */
	[W_GIL] = {"_gil_runtime_state", NULL, 7, 99, ANY_MODEL, false},
	[W_TSTATE] = {"_ts", "PyThreadState", 6, 99, ANY_MODEL, false},
	[W_CFRAME] = {"_PyCFrame", "_PyCFrame", 11, 12, ANY_MODEL, false},
	[W_FRAME_OBJECT] = {"_frame", "PyFrameObject", 6, 99,
			    PF_FRAMES_OBJECTS, false},
	[W_IFRAME] = {"_PyInterpreterFrame", "_PyInterpreterFrame", 11, 99,
		      PF_FRAMES_INTERPRETER, false},
	[W_CODE] = {"PyCodeObject", "PyCodeObject", 6, 99, ANY_MODEL, false},
	[W_OBJECT] = {"_object", "PyObject", 6, 99, ANY_MODEL, false},
	[W_TYPE] = {"_typeobject", "PyTypeObject", 6, 99, ANY_MODEL, false},
	[W_BYTES] = {NULL, "PyBytesObject", 6, 99, ANY_MODEL, false},
	/* 2.7's str (PyBytesObject is a macro for it there): no 3.x has it. */
	[W_STRING] = {NULL, "PyStringObject", 1, 0, ANY_MODEL, false},
	[W_ASCII] = {NULL, "PyASCIIObject", 6, 99, ANY_MODEL, false},
	[W_COMPACT] = {NULL, "PyCompactUnicodeObject", 6, 99, ANY_MODEL, false},
	[W_UNICODE] = {NULL, "PyUnicodeObject", 6, 99, ANY_MODEL, false},
	/* What _Py_DumpExtensionModules reads, from 3.10 on, and the
	 * thread names of threading, on every version. */
	[W_DICT] = {NULL, "PyDictObject", 6, 99, ANY_MODEL, true},
	[W_DICT_KEYS] = {"_dictkeysobject", "PyDictKeysObject", 6, 99,
			 ANY_MODEL, true},
	[W_DICT_ENTRY] = {NULL, "PyDictKeyEntry", 6, 99, ANY_MODEL, true},
	[W_DICT_UNICODE_ENTRY] = {NULL, "PyDictUnicodeEntry", 11, 99,
				  ANY_MODEL, true},
	[W_DICT_VALUES] = {"_dictvalues", "PyDictValues", 11, 99, ANY_MODEL,
			   true},
	[W_MODULE] = {NULL, "PyModuleObject", 6, 99, ANY_MODEL, true},
	[W_MODULE_DEF] = {"PyModuleDef", "PyModuleDef", 10, 99, ANY_MODEL,
			  true},
	[W_SET] = {NULL, "PySetObject", 6, 99, ANY_MODEL, true},
	[W_SET_ENTRY] = {NULL, "setentry", 6, 99, ANY_MODEL, true},
	[W_HEAP_TYPE] = {"_heaptypeobject", "PyHeapTypeObject", 11, 99,
			 ANY_MODEL, true},
	[W_LONG] = {"_longobject", "PyLongObject", 6, 99, ANY_MODEL, true},
	/* 2.7 only, like W_STRING. */
	[W_INT] = {NULL, "PyIntObject", 1, 0, ANY_MODEL, true},
	[W_DICT_ENTRY_27] = {NULL, "PyDictEntry", 1, 0, ANY_MODEL, true},
	/* What --locals shows. */
	[W_TUPLE] = {NULL, "PyTupleObject", 6, 99, ANY_MODEL, true},
	[W_LIST] = {NULL, "PyListObject", 6, 99, ANY_MODEL, true},
	[W_FLOAT] = {NULL, "PyFloatObject", 6, 99, ANY_MODEL, true},
	[W_CELL] = {NULL, "PyCellObject", 6, 99, ANY_MODEL, true},
	/* What --tasks reads in asyncio.tasks' registry: 3.11-3.13, and
	 * 3.14+ without _asyncio (whose debug offsets give generators). */
	[W_GEN] = {NULL, "PyGenObject", 11, 13, ANY_MODEL, true},
	[W_WEAKREF] = {"_PyWeakReference", "PyWeakReference", 11, 99,
		       ANY_MODEL, true},
};

/* What 2.7 has and the walker reads there; the ranges above are of 3.x. */
static const enum want_id py27_wants[] = {
	W_INTERP, W_TSTATE, W_FRAME_OBJECT, W_CODE, W_OBJECT, W_TYPE, W_STRING,
	W_DICT, W_MODULE, W_INT, W_DICT_ENTRY_27, W_TUPLE, W_LIST, W_FLOAT,
	W_CELL, W_LONG,
};

static bool wanted_in_py27(enum want_id id)
{
	for (size_t i = 0; i < sizeof py27_wants / sizeof py27_wants[0]; i++)
		if (py27_wants[i] == id)
			return true;
	return false;
}

enum member_kind { K_ANY, K_POINTER, K_AGGREGATE };
enum size_group { SZ_NONE, SZ_FRAME, SZ_CODE };

struct field_spec {
	enum want_id in;
	const char *paths;        /* '|'-separated alternatives, first wins */
	size_t dst;               /* offsetof the int64_t in struct pf_layout */
	enum member_kind kind;    /* rules out a same-named member of the
				     wrong shape */
	enum size_group size;     /* whose read size must cover it */
	enum want_id needs;       /* W_NONE, or a struct that must be found
				     too for the field to mean anything */
};

/* One row of the table below; "needs" is W_NONE unless given. */
#define FIELD(in, paths, member, kind, size)                                 \
	{in, paths, offsetof(struct pf_layout, member), kind, size, W_NONE}
/* A field of the "Extension modules" trailer in a struct the walker reads
 * anyway: set only for the versions that print the trailer. */
#define MODULES_FIELD(in, paths, member, kind)                               \
	{in, paths, offsetof(struct pf_layout, member), kind, SZ_NONE, W_DICT}

/* Which member gives which offset.  Members are looked up whatever the
 * version: a member the build lacks leaves the field PF_NO_OFFSET, so the
 * DWARF, not a version check, decides what is present. */
static const struct field_spec fields[] = {
	FIELD(W_RUNTIME, "interpreters.head", runtime.interpreters_head,
	      K_ANY, SZ_NONE),
	/* Embedded in 3.8-3.11; from 3.12 the GIL hangs off the
	 * interpreter. */
	FIELD(W_RUNTIME, "ceval.gil", runtime.gil, K_AGGREGATE, SZ_NONE),
	FIELD(W_INTERP, "next", interp.next, K_ANY, SZ_NONE),
	FIELD(W_INTERP, "id", interp.id, K_ANY, SZ_NONE),
	FIELD(W_INTERP, "tstate_head|threads.head", interp.threads_head,
	      K_ANY, SZ_NONE),
	/* A pointer from 3.12; 3.10's EXPERIMENTAL_ISOLATED_SUBINTERPRETERS
	 * builds embed a struct there, which is not what the walker reads. */
	FIELD(W_INTERP, "ceval.gil", interp.gil_ptr, K_POINTER, SZ_NONE),
	FIELD(W_INTERP, "gc.collecting", interp.gc_collecting, K_ANY,
	      SZ_NONE),
	FIELD(W_GIL, "locked", gil.locked, K_ANY, SZ_NONE),
	FIELD(W_GIL, "last_holder", gil.last_holder, K_ANY, SZ_NONE),
	FIELD(W_TSTATE, "next", tstate.next, K_ANY, SZ_NONE),
	FIELD(W_TSTATE, "interp", tstate.interp, K_ANY, SZ_NONE),
	FIELD(W_TSTATE, "thread_id", tstate.thread_id, K_ANY, SZ_NONE),
	FIELD(W_TSTATE, "frame|current_frame", tstate.frame, K_POINTER,
	      SZ_NONE),
	/* 3.10 has a CFrame *cframe too, but without current_frame: a
	 * tstate.cframe there would send the walker the wrong way. */
	{W_TSTATE, "cframe", offsetof(struct pf_layout, tstate.cframe),
	 K_POINTER, SZ_NONE, W_CFRAME},
	FIELD(W_CFRAME, "current_frame", cframe.current_frame, K_POINTER,
	      SZ_NONE),
	FIELD(W_FRAME_OBJECT, "f_back", frame.back, K_POINTER, SZ_FRAME),
	FIELD(W_FRAME_OBJECT, "f_code", frame.code, K_POINTER, SZ_FRAME),
	FIELD(W_FRAME_OBJECT, "f_lasti", frame.lasti, K_ANY, SZ_FRAME),
	FIELD(W_FRAME_OBJECT, "f_lineno", frame.lineno, K_ANY, SZ_FRAME),
	FIELD(W_IFRAME, "previous", frame.back, K_POINTER, SZ_FRAME),
	FIELD(W_IFRAME, "f_code|f_executable", frame.code, K_ANY, SZ_FRAME),
	FIELD(W_IFRAME, "prev_instr|instr_ptr", frame.instr, K_POINTER,
	      SZ_FRAME),
	FIELD(W_IFRAME, "owner", frame.owner, K_ANY, SZ_FRAME),
	FIELD(W_IFRAME, "is_entry", frame.is_entry, K_ANY, SZ_FRAME),
	FIELD(W_CODE, "co_filename", code.filename, K_POINTER, SZ_CODE),
	FIELD(W_CODE, "co_name", code.name, K_POINTER, SZ_CODE),
	FIELD(W_CODE, "co_firstlineno", code.firstlineno, K_ANY, SZ_CODE),
	FIELD(W_CODE, "co_linetable|co_lnotab", code.linetable, K_POINTER,
	      SZ_CODE),
	FIELD(W_CODE, "co_code_adaptive", code.code_adaptive, K_ANY,
	      SZ_CODE),
	FIELD(W_OBJECT, "ob_type", object.ob_type, K_POINTER, SZ_NONE),
	FIELD(W_TYPE, "tp_flags", type.tp_flags, K_ANY, SZ_NONE),
	FIELD(W_BYTES, "ob_base.ob_size", bytes.ob_size, K_ANY, SZ_NONE),
	FIELD(W_BYTES, "ob_sval", bytes.ob_sval, K_ANY, SZ_NONE),
	/* PyObject_VAR_HEAD spells out its members in 2.7. */
	FIELD(W_STRING, "ob_size", bytes.ob_size, K_ANY, SZ_NONE),
	FIELD(W_STRING, "ob_sval", bytes.ob_sval, K_ANY, SZ_NONE),
	FIELD(W_ASCII, "length", unicode.length, K_ANY, SZ_NONE),
	FIELD(W_ASCII, "state", unicode.state, K_AGGREGATE, SZ_NONE),
	FIELD(W_UNICODE, "data", unicode.data, K_AGGREGATE, SZ_NONE),
	/* _Py_DumpExtensionModules: interp->modules until 3.11, then
	 * _PyImport_GetModules(): interp->imports.modules. */
	MODULES_FIELD(W_INTERP, "modules|imports.modules", interp.modules,
		      K_POINTER),
	MODULES_FIELD(W_INTERP, "sysdict", interp.sysdict, K_POINTER),
	MODULES_FIELD(W_TYPE, "tp_base", type.tp_base, K_POINTER),
	/* What reading thread names takes from structs the walker reads. */
	MODULES_FIELD(W_TYPE, "tp_basicsize", type.tp_basicsize, K_ANY),
	MODULES_FIELD(W_TYPE, "tp_dictoffset", type.tp_dictoffset, K_ANY),
	FIELD(W_HEAP_TYPE, "ht_cached_keys", heap_type.ht_cached_keys,
	      K_POINTER, SZ_NONE),
	FIELD(W_LONG, "ob_base.ob_size|ob_size", long_obj.ob_size, K_ANY,
	      SZ_NONE),
	FIELD(W_LONG, "long_value.lv_tag", long_obj.lv_tag, K_ANY, SZ_NONE),
	FIELD(W_LONG, "ob_digit|long_value.ob_digit", long_obj.ob_digit,
	      K_ANY, SZ_NONE),
	FIELD(W_INT, "ob_ival", int_obj.ob_ival, K_ANY, SZ_NONE),
	FIELD(W_DICT, "ma_mask", dict.ma_mask, K_ANY, SZ_NONE),
	FIELD(W_DICT, "ma_table", dict.ma_table, K_POINTER, SZ_NONE),
	FIELD(W_DICT_ENTRY_27, "me_key", dict_entry.me_key, K_POINTER,
	      SZ_NONE),
	FIELD(W_DICT_ENTRY_27, "me_value", dict_entry.me_value, K_POINTER,
	      SZ_NONE),
	FIELD(W_MODULE, "md_dict", module.md_dict, K_POINTER, SZ_NONE),
	/* --locals. */
	FIELD(W_FRAME_OBJECT, "f_localsplus", locals.localsplus, K_ANY,
	      SZ_NONE),
	FIELD(W_IFRAME, "localsplus", locals.localsplus, K_ANY, SZ_NONE),
	FIELD(W_CODE, "co_localsplusnames", locals.names, K_POINTER, SZ_NONE),
	FIELD(W_CODE, "co_localspluskinds", locals.kinds, K_POINTER, SZ_NONE),
	FIELD(W_CODE, "co_varnames", locals.varnames, K_POINTER, SZ_NONE),
	FIELD(W_CODE, "co_cellvars", locals.cellvars, K_POINTER, SZ_NONE),
	FIELD(W_CODE, "co_freevars", locals.freevars, K_POINTER, SZ_NONE),
	FIELD(W_CODE, "co_nlocals", locals.nlocals, K_ANY, SZ_NONE),
	FIELD(W_TYPE, "tp_name", type_name.tp_name, K_POINTER, SZ_NONE),
	FIELD(W_TUPLE, "ob_base.ob_size|ob_size", tuple.ob_size, K_ANY,
	      SZ_NONE),
	FIELD(W_TUPLE, "ob_item", tuple.ob_item, K_ANY, SZ_NONE),
	FIELD(W_LIST, "ob_base.ob_size|ob_size", list.ob_size, K_ANY, SZ_NONE),
	FIELD(W_LIST, "ob_item", list.ob_item, K_POINTER, SZ_NONE),
	FIELD(W_FLOAT, "ob_fval", float_obj.ob_fval, K_ANY, SZ_NONE),
	FIELD(W_CELL, "ob_ref", cell.ob_ref, K_POINTER, SZ_NONE),
	FIELD(W_SET, "used", set_used.used, K_ANY, SZ_NONE),
	FIELD(W_DICT, "ma_used", dict.ma_used, K_ANY, SZ_NONE),
	FIELD(W_DICT, "ma_keys", dict.ma_keys, K_POINTER, SZ_NONE),
	FIELD(W_DICT, "ma_values", dict.ma_values, K_POINTER, SZ_NONE),
	FIELD(W_DICT_KEYS, "dk_size", dict_keys.dk_size, K_ANY, SZ_NONE),
	FIELD(W_DICT_KEYS, "dk_log2_index_bytes", dict_keys.dk_log2_index_bytes,
	      K_ANY, SZ_NONE),
	FIELD(W_DICT_KEYS, "dk_kind", dict_keys.dk_kind, K_ANY, SZ_NONE),
	FIELD(W_DICT_KEYS, "dk_nentries", dict_keys.dk_nentries, K_ANY,
	      SZ_NONE),
	FIELD(W_DICT_KEYS, "dk_indices", dict_keys.dk_indices, K_ANY,
	      SZ_NONE),
	FIELD(W_DICT_ENTRY, "me_key", dict_entry.me_key, K_POINTER, SZ_NONE),
	FIELD(W_DICT_ENTRY, "me_value", dict_entry.me_value, K_POINTER,
	      SZ_NONE),
	FIELD(W_DICT_UNICODE_ENTRY, "me_key", dict_unicode_entry.me_key,
	      K_POINTER, SZ_NONE),
	FIELD(W_DICT_UNICODE_ENTRY, "me_value", dict_unicode_entry.me_value,
	      K_POINTER, SZ_NONE),
	FIELD(W_DICT_VALUES, "capacity", dict_values.capacity, K_ANY,
	      SZ_NONE),
	FIELD(W_DICT_VALUES, "values", dict_values.values, K_ANY, SZ_NONE),
	FIELD(W_MODULE, "md_def", module.md_def, K_POINTER, SZ_NONE),
	FIELD(W_MODULE_DEF, "m_methods", module_def.m_methods, K_POINTER,
	      SZ_NONE),
	FIELD(W_SET, "mask", set.mask, K_ANY, SZ_NONE),
	FIELD(W_SET, "table", set.table, K_POINTER, SZ_NONE),
	FIELD(W_SET_ENTRY, "key", set_entry.key, K_POINTER, SZ_NONE),
	/* --tasks on 3.11-3.13. */
	FIELD(W_GEN, "gi_iframe", gen.gi_iframe, K_ANY, SZ_NONE),
	FIELD(W_GEN, "gi_frame_state", gen.gi_frame_state, K_ANY, SZ_NONE),
	FIELD(W_IFRAME, "stacktop", frame.stacktop, K_ANY, SZ_NONE),
	FIELD(W_WEAKREF, "wr_object", weakref.wr_object, K_POINTER, SZ_NONE),
};

/* Fields that are the size of a whole struct. */
static const struct {
	enum want_id of;
	size_t dst;
} sizes[] = {
	{W_ASCII, offsetof(struct pf_layout, unicode.ascii_size)},
	{W_COMPACT, offsetof(struct pf_layout, unicode.compact_size)},
	{W_DICT_ENTRY, offsetof(struct pf_layout, dict_entry.size)},
	{W_DICT_UNICODE_ENTRY, offsetof(struct pf_layout,
					dict_unicode_entry.size)},
	{W_SET_ENTRY, offsetof(struct pf_layout, set_entry.size)},
	{W_DICT_ENTRY_27, offsetof(struct pf_layout, dict_entry.size)},
	{W_GIL, offsetof(struct pf_layout, gil.size)},
};

struct search {
	const struct want *wants; /* wants, or one struct of a module */
	int count;                /* entries of wants, [0] unused */
	bool wanted[W_COUNT];
	bool found[W_COUNT];
	Dwarf_Die die[W_COUNT];   /* the definition, typedefs stripped */
	unsigned left;            /* wanted and not yet found */
};

static const char *attr_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	/* Plain dwarf_attr: top-level type DIEs carry their own name, and
	 * skipping dwarf_diename's origin lookups keeps the scan cheap. */
	if (pf_dw.dwarf_attr(die, DW_AT_name, &attr) == NULL)
		return NULL;
	return pf_dw.dwarf_formstring(&attr);
}

static bool type_of(Dwarf_Die *die, Dwarf_Die *out)
{
	Dwarf_Attribute attr;
	return pf_dw.dwarf_attr_integrate(die, DW_AT_type, &attr) != NULL &&
	       pf_dw.dwarf_formref_die(&attr, out) != NULL;
}

/* Follows typedefs and qualifiers to the type that has the layout. */
static bool strip_type(Dwarf_Die *die)
{
	for (int depth = 0; depth < 32; depth++) {
		switch (pf_dw.dwarf_tag(die)) {
		case DW_TAG_typedef:
		case DW_TAG_const_type:
		case DW_TAG_volatile_type:
		case DW_TAG_restrict_type:
		case DW_TAG_atomic_type:
			if (!type_of(die, die))
				return false;
			break;
		default:
			return true;
		}
	}
	return false;   /* a typedef loop: corrupt DWARF */
}

static bool is_aggregate(Dwarf_Die *die)
{
	int tag = pf_dw.dwarf_tag(die);
	return tag == DW_TAG_structure_type || tag == DW_TAG_union_type;
}

static bool is_definition(Dwarf_Die *die)
{
	return !pf_dw.dwarf_hasattr(die, DW_AT_declaration) && is_aggregate(die);
}

static void consider(struct search *s, Dwarf_Die *die)
{
	int tag = pf_dw.dwarf_tag(die);
	if (tag != DW_TAG_structure_type && tag != DW_TAG_typedef)
		return;
	const char *name = attr_name(die);
	if (name == NULL)
		return;
	for (int i = W_NONE + 1; i < s->count; i++) {
		if (!s->wanted[i] || s->found[i])
			continue;
		const char *want = tag == DW_TAG_typedef ? s->wants[i].type_name
							 : s->wants[i].tag;
		if (want == NULL || strcmp(name, want) != 0)
			continue;
		Dwarf_Die def = *die;
		/* A CU that only passes pointers around sees a declaration;
		 * keep looking for one that has the members. */
		if (!strip_type(&def) || !is_definition(&def))
			return;
		s->die[i] = def;
		s->found[i] = true;
		s->left--;
		return;
	}
}

/* Looks only at the top-level DIEs of each unit, where C compilers put
 * struct definitions, and stops as soon as everything is found: reading
 * whole CUs of a 10+ MB .debug_info would cost far more. */
static void scan(Dwarf *dw, struct search *s)
{
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Half version;
	uint8_t unit_type;
	Dwarf_Die cudie, subdie;

	while (s->left > 0 &&
	       pf_dw.dwarf_get_units(dw, cu, &next, &version, &unit_type, &cudie,
				     &subdie) == 0) {
		cu = next;
		if (unit_type == DW_UT_type || unit_type == DW_UT_split_type) {
			/* -fdebug-types-section: the type is the unit's own. */
			consider(s, &subdie);
			continue;
		}
		Dwarf_Die die;
		if (pf_dw.dwarf_child(&cudie, &die) != 0)
			continue;
		do
			consider(s, &die);
		while (s->left > 0 && pf_dw.dwarf_siblingof(&die, &die) == 0);
	}
}

static bool member_location(Dwarf_Die *member, int64_t *offset)
{
	Dwarf_Attribute attr;
	Dwarf_Word value;

	/* Union members, and bit-fields described by DW_AT_data_bit_offset,
	 * have no location: they start at the aggregate's start. */
	if (pf_dw.dwarf_attr(member, DW_AT_data_member_location, &attr) ==
	    NULL) {
		*offset = 0;
		return true;
	}
	if (pf_dw.dwarf_formudata(&attr, &value) == 0) {
		*offset = (int64_t)value;
		return true;
	}
	/* DWARF 2 producers wrote a location expression instead. */
	Dwarf_Op *ops;
	size_t nops;
	if (pf_dw.dwarf_getlocation(&attr, &ops, &nops) == 0 && nops == 1 &&
	    ops[0].atom == DW_OP_plus_uconst) {
		*offset = (int64_t)ops[0].number;
		return true;
	}
	return false;
}

/* Finds the member called name[0..len) of the aggregate agg, also inside
 * anonymous struct/union members (3.12's PyObject has one). */
static bool find_member(Dwarf_Die *agg, const char *name, size_t len,
			int64_t *offset, Dwarf_Die *member)
{
	Dwarf_Die child;
	if (pf_dw.dwarf_child(agg, &child) != 0)
		return false;
	do {
		if (pf_dw.dwarf_tag(&child) != DW_TAG_member)
			continue;
		const char *cname = attr_name(&child);
		if (cname != NULL) {
			if (strlen(cname) != len || memcmp(cname, name, len))
				continue;
			if (!member_location(&child, offset))
				return false;
			*member = child;
			return true;
		}
		Dwarf_Die inner_type;
		int64_t outer, inner;
		if (!type_of(&child, &inner_type) || !strip_type(&inner_type) ||
		    !is_aggregate(&inner_type))
			continue;
		if (find_member(&inner_type, name, len, &inner, member) &&
		    member_location(&child, &outer)) {
			*offset = outer + inner;
			return true;
		}
	} while (pf_dw.dwarf_siblingof(&child, &child) == 0);
	return false;
}

/* Resolves a dotted member path ("interpreters.head") from agg through
 * embedded structs; *type gets the last member's (unstripped) type. */
static bool resolve_path(Dwarf_Die *agg, const char *path, size_t path_len,
			 int64_t *offset, Dwarf_Die *type)
{
	Dwarf_Die cur = *agg;
	int64_t total = 0;
	const char *p = path, *end = path + path_len;

	for (;;) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t len = (size_t)((dot ? dot : end) - p);
		int64_t off;
		Dwarf_Die member;

		if (!is_aggregate(&cur) ||
		    !find_member(&cur, p, len, &off, &member) ||
		    !type_of(&member, type))
			return false;
		total += off;
		if (dot == NULL) {
			*offset = total;
			return true;
		}
		cur = *type;
		if (!strip_type(&cur))
			return false;
		p = dot + 1;
	}
}

static bool type_size(Dwarf_Die *type, int64_t *size)
{
	Dwarf_Word word;
	if (pf_dw.dwarf_aggregate_size(type, &word) == 0) {
		*size = (int64_t)word;
		return true;
	}
	/* Some producers omit DW_AT_byte_size on pointers: use the CU's
	 * address size. */
	Dwarf_Die stripped = *type, cudie;
	uint8_t address_size, offset_size;
	if (strip_type(&stripped) &&
	    pf_dw.dwarf_tag(&stripped) == DW_TAG_pointer_type &&
	    pf_dw.dwarf_diecu(&stripped, &cudie, &address_size, &offset_size)) {
		*size = address_size;
		return true;
	}
	return false;
}

static bool kind_matches(Dwarf_Die *type, enum member_kind kind)
{
	Dwarf_Die stripped = *type;
	if (kind == K_ANY)
		return true;
	if (!strip_type(&stripped))
		return false;
	if (kind == K_POINTER)
		return pf_dw.dwarf_tag(&stripped) == DW_TAG_pointer_type;
	return is_aggregate(&stripped);
}

/* Sets one field from the first alternative the struct has. */
static void fill_field(const struct field_spec *spec, Dwarf_Die *agg,
		       struct pf_layout *layout, int64_t *frame_end,
		       int64_t *code_end)
{
	const char *p = spec->paths;
	while (*p != '\0') {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		int64_t offset, size;
		Dwarf_Die type;

		if (resolve_path(agg, p, len, &offset, &type) &&
		    kind_matches(&type, spec->kind)) {
			*(int64_t *)((char *)layout + spec->dst) = offset;
			int64_t *end = spec->size == SZ_FRAME ? frame_end
				     : spec->size == SZ_CODE  ? code_end
							      : NULL;
			if (end != NULL && type_size(&type, &size) &&
			    offset + size > *end)
				*end = offset + size;
			return;
		}
		p += len + (bar != NULL);
	}
}

/* The bit position of a bit-field, counted from the least significant bit
 * of the word at the start of agg (the target is little-endian). */
static bool bitfield_shift(Dwarf_Die *agg, const char *name, unsigned *shift)
{
	Dwarf_Die member, type;
	Dwarf_Attribute attr;
	Dwarf_Word bit_size, bit_offset, unit_size;
	int64_t byte_offset;

	if (!find_member(agg, name, strlen(name), &byte_offset, &member) ||
	    pf_dw.dwarf_attr(&member, DW_AT_bit_size, &attr) == NULL ||
	    pf_dw.dwarf_formudata(&attr, &bit_size) != 0)
		return false;

	int64_t bits;
	if (pf_dw.dwarf_attr(&member, DW_AT_data_bit_offset, &attr) != NULL) {
		/* DWARF 4+: already counted from the aggregate's start in
		 * the target's bit order. */
		if (pf_dw.dwarf_formudata(&attr, &bit_offset) != 0)
			return false;
		bits = byte_offset * 8 + (int64_t)bit_offset;
	} else {
		/* DWARF 2/3: DW_AT_bit_offset counts from the most
		 * significant bit of a DW_AT_byte_size storage unit placed at
		 * the member location; flip it for a little-endian word. */
		if (pf_dw.dwarf_attr(&member, DW_AT_bit_offset, &attr) == NULL ||
		    pf_dw.dwarf_formudata(&attr, &bit_offset) != 0)
			return false;
		if (pf_dw.dwarf_attr(&member, DW_AT_byte_size, &attr) != NULL) {
			if (pf_dw.dwarf_formudata(&attr, &unit_size) != 0)
				return false;
		} else if (!type_of(&member, &type) ||
			   pf_dw.dwarf_aggregate_size(&type, &unit_size) != 0) {
			return false;
		}
		if (bit_offset + bit_size > unit_size * 8)
			return false;
		bits = byte_offset * 8 +
		       (int64_t)(unit_size * 8 - bit_offset - bit_size);
	}
	/* The walker reads state as one 32-bit word. */
	if (bits < 0 || bits + (int64_t)bit_size > 32)
		return false;
	*shift = (unsigned)bits;
	return true;
}

static bool little_endian(Dwarf *dw)
{
	Elf *elf = pf_dw.dwarf_getelf(dw);
	const char *ident = elf ? pf_libelf.elf_getident(elf, NULL) : NULL;
	return ident != NULL && ident[EI_DATA] == ELFDATA2LSB;
}

/* Bit positions are set only when all three are found, so a layout never
 * mixes DWARF's and pf_layout_init_version's idea of the bit-field. */
static void fill_shifts(Dwarf *dw, struct search *s, struct pf_layout *l)
{
	Dwarf_Die state;
	int64_t offset;
	unsigned kind, compact, ascii;

	if (!little_endian(dw) ||
	    !resolve_path(&s->die[W_ASCII], "state", 5, &offset, &state) ||
	    !strip_type(&state) || !is_aggregate(&state))
		return;
	if (bitfield_shift(&state, "kind", &kind) &&
	    bitfield_shift(&state, "compact", &compact) &&
	    bitfield_shift(&state, "ascii", &ascii)) {
		l->unicode.kind_shift = kind;
		l->unicode.compact_shift = compact;
		l->unicode.ascii_shift = ascii;
	}
}

static enum pf_status fail_missing_structs(const struct search *s,
					   const char *path, unsigned major,
					   unsigned minor,
					   struct pf_error *err)
{
	char names[384] = "";
	size_t used = 0;
	for (int i = W_NONE + 1; i < W_COUNT; i++) {
		if (!s->wanted[i] || s->found[i] || wants[i].optional)
			continue;
		int n = snprintf(names + used, sizeof names - used, "%s%s",
				 used ? ", " : "",
				 wants[i].type_name ? wants[i].type_name
						    : wants[i].tag);
		if (n < 0 || (size_t)n >= sizeof names - used)
			break;
		used += (size_t)n;
	}
	return pf_fail(err, PF_ERR_NO_OFFSETS,
		       "the DWARF in %s does not define %s; is it a CPython "
		       "%u.%u interpreter or libpython?",
		       path, names, major, minor);
}

enum pf_status pf_layout_from_dwarf(struct pf_layout *layout,
				    const char *elf_path,
				    const char *debuginfo_path,
				    struct pf_error *err)
{
	struct pf_error local = {0};
	if (err == NULL)
		err = &local;

	struct pf_debuginfo *di = pf_debuginfo_open(elf_path, debuginfo_path, err);
	if (di == NULL)
		return err->status;
	Dwarf *dw = pf_debuginfo_dwarf(di, NULL);
	const char *path = pf_debuginfo_path(di);

	struct search s;
	memset(&s, 0, sizeof s);
	s.wants = wants;
	s.count = W_COUNT;
	for (int i = W_NONE + 1; i < W_COUNT; i++) {
		const struct want *w = &wants[i];
		bool in_version =
			layout->major == 2
				? wanted_in_py27((enum want_id)i)
				: layout->minor >= w->first_minor &&
					  layout->minor <= w->last_minor;
		s.wanted[i] = in_version &&
			      (w->frame_model == ANY_MODEL ||
			       w->frame_model == (int)layout->frame_model);
		s.left += s.wanted[i];
	}
	/* With a dwz-compressed debug file the shared types sit in partial
	 * units of the alternate file: it is smaller, so look there first. */
	Dwarf *alt = pf_dw.dwarf_getalt(dw);
	if (alt != NULL)
		scan(alt, &s);
	scan(dw, &s);
	bool required_missing = false;
	for (int i = W_NONE + 1; i < W_COUNT; i++)
		required_missing |= s.wanted[i] && !s.found[i] &&
				    !wants[i].optional;
	if (required_missing) {
		enum pf_status st = fail_missing_structs(
			&s, path, layout->major, layout->minor, err);
		pf_debuginfo_close(di);
		return st;
	}

	/* Work on a copy so that a failure leaves the caller's layout as it
	 * was, ready for another source. */
	struct pf_layout l = *layout;
	int64_t frame_end = 0, code_end = 0;
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
		if (s.found[fields[i].in] &&
		    (fields[i].needs == W_NONE || s.found[fields[i].needs]))
			fill_field(&fields[i], &s.die[fields[i].in], &l,
				   &frame_end, &code_end);
	if (frame_end > 0)
		l.frame.size = frame_end;
	if (code_end > 0)
		l.code.size = code_end;

	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		int64_t size;
		if (s.found[sizes[i].of] &&
		    type_size(&s.die[sizes[i].of], &size))
			*(int64_t *)((char *)&l + sizes[i].dst) = size;
	}
	fill_shifts(dw, &s, &l);

	l.source = PF_SOURCE_DWARF;
	snprintf(l.source_detail, sizeof l.source_detail, "%s", path);

	const char *missing = NULL;
	if (!pf_layout_complete(&l, &missing)) {
		enum pf_status st = pf_fail(
			err, PF_ERR_NO_OFFSETS,
			"the DWARF in %s lacks %s, which Python %u.%u needs",
			path, missing ? missing : "a field", l.major, l.minor);
		pf_debuginfo_close(di);
		return st;
	}
	pf_debuginfo_close(di);
	*layout = l;
	return PF_OK;
}

/* The typedef or struct called name among the top-level DIEs of cu, as
 * its definition. */
static bool unit_struct(Dwarf_Die *cu, const char *name, Dwarf_Die *def)
{
	Dwarf_Die die;
	if (pf_dw.dwarf_child(cu, &die) != 0)
		return false;
	do {
		int tag = pf_dw.dwarf_tag(&die);
		const char *n;
		if ((tag != DW_TAG_structure_type && tag != DW_TAG_typedef) ||
		    (n = attr_name(&die)) == NULL || strcmp(n, name) != 0)
			continue;
		*def = die;
		if (strip_type(def) && is_definition(def))
			return true;
	} while (pf_dw.dwarf_siblingof(&die, &die) == 0);
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Reads m in the struct def: its offset, width and the struct's size;
 * a member whose kind (pointer or not) is not the wanted one is not. */
static void read_member(Dwarf_Die *def, struct pf_dwarf_member *m)
{
	Dwarf_Die member, type;
	int64_t offset, width, size;
	if (find_member(def, m->member, strlen(m->member), &offset, &member) &&
	    type_of(&member, &type) && type_size(&type, &width) &&
	    type_size(def, &size) && strip_type(&type) &&
	    (pf_dw.dwarf_tag(&type) == DW_TAG_pointer_type) == m->pointer) {
		m->offset = offset;
		m->width = width;
		m->struct_size = size;
	}
}

enum pf_status pf_dwarf_unit_members(const char *elf_path,
				     const char *debuginfo_path,
				     const char *unit_suffix,
				     struct pf_dwarf_member *members, size_t n,
				     char *where, size_t where_size,
				     struct pf_error *err)
{
	for (size_t i = 0; i < n; i++)
		members[i].offset = PF_NO_OFFSET;
	struct pf_debuginfo *di =
		pf_debuginfo_open(elf_path, debuginfo_path, err);
	if (di == NULL)
		return err->status;
	Dwarf *dw = pf_debuginfo_dwarf(di, NULL);
	if (where != NULL)
		snprintf(where, where_size, "%s", pf_debuginfo_path(di));
	Dwarf_CU *cu = NULL, *next;
	Dwarf_Half version;
	uint8_t unit_type;
	Dwarf_Die cudie, subdie;
	bool unit_found = false;
	while (!unit_found &&
	       pf_dw.dwarf_get_units(dw, cu, &next, &version, &unit_type, &cudie,
				     &subdie) == 0) {
		cu = next;
		const char *name = attr_name(&cudie);
		if (unit_type != DW_UT_compile || name == NULL ||
		    !ends_with(name, unit_suffix))
			continue;
		unit_found = true;
		for (size_t i = 0; i < n; i++) {
			Dwarf_Die def;
			if (unit_struct(&cudie, members[i].type_name, &def))
				read_member(&def, &members[i]);
		}
	}
	enum pf_status st =
		unit_found ? PF_OK
			   : pf_fail(err, PF_ERR_NO_OFFSETS,
				     "the DWARF in %s has no unit %s",
				     pf_debuginfo_path(di), unit_suffix);
	pf_debuginfo_close(di);
	return st;
}

enum pf_status pf_dwarf_member_check(const struct pf_dwarf_member *m,
				     int64_t width, const char *where,
				     struct pf_error *err)
{
	if (m->width == width && m->offset >= 0 &&
	    m->offset <= m->struct_size - width)
		return PF_OK;
	return pf_fail(err, PF_ERR_NO_OFFSETS,
		       "%s.%s (%lld, %lld bytes) lies outside its struct of "
		       "%lld bytes in %s",
		       m->type_name, m->member, (long long)m->offset,
		       (long long)m->width, (long long)m->struct_size, where);
}
