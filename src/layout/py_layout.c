#include "layout/py_layout.h"

#include <stddef.h>
#include <string.h>

/* FRAME_OWNED_BY_CSTACK in pycore_frame.h of 3.12 and 3.13, renamed
 * FRAME_OWNED_BY_INTERPRETER in 3.14 (pycore_interpframe_structs.h), where
 * a new FRAME_OWNED_BY_CSTACK = 4 never reaches a thread's frame chain. */
enum { OWNED_BY_CSTACK = 3 };

/* Py_TAG_BITS of 3.14's pycore_stackref.h: the low bits of a _PyStackRef
 * say how it is counted; the object is at least 8-byte aligned. */
enum { STACKREF_TAG_BITS = 3 };

static void clear_offsets(struct pf_layout *layout)
{
#define CLEAR_(group, field) layout->group.field = PF_NO_OFFSET;
	PF_LAYOUT_OFFSET_FIELDS(CLEAR_)
#undef CLEAR_
}

/* How the interpreter keeps what the walker reads: frames, line tables,
 * strings, dicts. */
static void set_object_model(struct pf_layout *layout, bool py2,
			     unsigned minor, unsigned micro)
{
	/* _PyRuntime appeared in 3.7. */
	layout->anchor = !py2 && minor >= 7 ? PF_ANCHOR_RUNTIME
					    : PF_ANCHOR_GLOBALS;
	layout->frame_model = minor <= 10 ? PF_FRAMES_OBJECTS
					  : PF_FRAMES_INTERPRETER;
	/* The line deltas of co_lnotab are signed from 3.6 on. */
	layout->line_table = py2           ? PF_LINES_LNOTAB_UNSIGNED
			     : minor <= 9  ? PF_LINES_LNOTAB
			     : minor == 10 ? PF_LINES_PEP626
					   : PF_LINES_LOCATIONS;
	layout->frame.lasti_scale = minor == 10 ? 2 : 1;
	layout->frame.use_f_lineno = minor == 10;
	/* PyASCIIObject.state: interned:2, kind:3, compact:1, ascii:1 in every
	 * default (GIL) build from 3.3 to 3.13; 2.7 has no such object. */
	if (!py2) {
		layout->unicode.kind_shift = 2;
		layout->unicode.compact_shift = 5;
		layout->unicode.ascii_shift = 6;
	}
	layout->owner_cstack = minor >= 12 ? OWNED_BY_CSTACK : -1;
	/* gh-123967, fixed in 3.12.8 and 3.13.1. */
	layout->skip_cstack_on_top = (minor == 12 && micro >= 8) ||
				     (minor == 13 && micro >= 1) || minor >= 14;
	layout->code_tag_mask = minor >= 14 ? STACKREF_TAG_BITS : 0;
	/* PyFrameState of pycore_frame.h; 3.11 and 3.12 have no such
	 * state (0 never matches a suspended frame there). */
	layout->frame_suspended_yield_from = minor >= 13 ? -1 : 0;
	/* FRAME_SUSPENDED, and the opcodes of RESUME and of RESUME_QUICK
	 * (3.11) or INSTRUMENTED_RESUME (3.12), from Include/opcode.h. */
	layout->frame_suspended = minor == 11 || minor == 12 ? -1 : 0;
	layout->resume_opcode = minor == 11 || minor == 12 ? 151 : -1;
	layout->resume_opcode_alt = minor == 11   ? 150
				    : minor == 12 ? 240
						  : -1;
	layout->code_names_bytes = py2;
	/* DK_ENTRIES: dk_size-wide indices up to 3.10, then
	 * dk_log2_index_bytes (Objects/dict-common.h, pycore_dict.h). */
	layout->dict_indices = minor <= 10 ? PF_DICT_INDICES_BY_SIZE
					   : PF_DICT_INDICES_LOG2_BYTES;
	/* DictKeysKind: DICT_KEYS_GENERAL = 0 from 3.11 to 3.13. */
	layout->dict_keys_general = minor >= 11 ? 0 : -1;
	/* get_index_from_order() of Objects/dictobject.c. */
	layout->dict_split = minor <= 10   ? PF_DICT_SPLIT_DENSE
			     : minor <= 12 ? PF_DICT_SPLIT_ORDER_BEFORE
					   : PF_DICT_SPLIT_ORDER_AFTER;
	layout->dict_open_table = py2;
	layout->instance_dict = py2 || minor <= 10 ? PF_IDICT_OFFSET
				: minor == 11	  ? PF_IDICT_MANAGED_311
				: minor == 12	  ? PF_IDICT_MANAGED_312
						  : PF_IDICT_INLINE;
}

/* What faulthandler of that version writes differently (Python/
 * traceback.c, Modules/faulthandler.c, and 2.7's backport). */
static void set_text_rules(struct pf_layout *layout, bool py2, unsigned minor,
			   unsigned micro)
{
	/* gh-140815 (3.14.1): dump_frame() skips them, the loop counts. */
	layout->shim_frames_counted = (minor == 14 && micro >= 1) ||
				      minor > 14;
	/* write_thread_name() of Python/traceback.c, 3.14+. */
	layout->thread_names = minor >= 14;
	/* faulthandler.enable(c_stack=True) is the default from 3.14. */
	layout->native_by_default = minor >= 14;
	layout->frame_limit_marker = minor <= 12;
	layout->no_frame_line = minor >= 8;
	layout->no_frame_indented = minor >= 10;
	layout->thread_name_suffix = py2;
	layout->timeout_by_alarm = py2;
	layout->timeout_text = py2 || minor == 6 ? PF_TIMEOUT_TRUNCATED
						 : PF_TIMEOUT_ROUNDED_UP;
	layout->gc_line = minor >= 10;
	layout->fpe_hyphenated = minor >= 13 || (minor == 12 && micro >= 5);
	/* _Py_DumpExtensionModules appeared in 3.10. */
	layout->extension_modules_trailer = minor >= 10;
}

bool pf_layout_init_version(struct pf_layout *layout, unsigned major,
			    unsigned minor, unsigned micro)
{
	memset(layout, 0, sizeof *layout);
	clear_offsets(layout);
	layout->ft.tlbc_index = PF_NO_OFFSET;
	layout->ft.co_tlbc = PF_NO_OFFSET;
	layout->ft.gil_enabled = PF_NO_OFFSET;
	layout->coro.gi_iframe = PF_NO_OFFSET;
	layout->coro.gi_frame_state = PF_NO_OFFSET;
	layout->coro.stackpointer = PF_NO_OFFSET;
	layout->coro.llist_next = PF_NO_OFFSET;
	layout->coro.tp_name = PF_NO_OFFSET;
	layout->coro.lv_tag = PF_NO_OFFSET;
	layout->coro.ob_digit = PF_NO_OFFSET;
	/* 2.7 falls, with its minor 7, on the side of 3.7 in every test of
	 * the minor below; what sets it apart is said explicitly.  A 3.x
	 * newer than PF_NEWEST_KNOWN_MINOR gets the newest rules; the caller
	 * warns and reads it only through its debug offsets. */
	bool py2 = major == 2;
	if (py2 ? minor != 7 : major != 3 || minor < 6)
		return false;
	layout->major = major;
	layout->minor = minor;
	set_object_model(layout, py2, minor, micro);
	set_text_rules(layout, py2, minor, micro);
	return true;
}

void pf_layout_set_free_threaded(struct pf_layout *layout)
{
	/* unicodeobject.h: "unsigned char interned;" then kind:3, compact:1,
	 * ascii:1 in the next bits of the same unit. */
	layout->free_threaded = true;
	layout->fatal_current_without_gil = layout->minor >= 14;
	layout->unicode.kind_shift = 8;
	layout->unicode.compact_shift = 11;
	layout->unicode.ascii_shift = 12;
}

struct required {
	const char *name;
	const int64_t *offset;
};

bool pf_layout_complete(const struct pf_layout *l, const char **missing)
{
	bool objects = l->frame_model == PF_FRAMES_OBJECTS;
	bool runtime = l->anchor == PF_ANCHOR_RUNTIME;
	bool unicode = !l->code_names_bytes;
	bool has_cframe = l->minor == 11 || l->minor == 12;
	bool tlbc = l->free_threaded && l->minor >= 14;
	/* A NULL offset: the field does not exist in this version. */
	const struct required fields[] = {
		{"runtime.interpreters_head",
		 runtime ? &l->runtime.interpreters_head : NULL},
		{"interp.next", &l->interp.next},
		{"interp.threads_head", &l->interp.threads_head},
		{"gil.locked", runtime ? &l->gil.locked : NULL},
		{"gil.last_holder", runtime ? &l->gil.last_holder : NULL},
		{"tstate.next", &l->tstate.next},
		{"tstate.interp", &l->tstate.interp},
		{"tstate.thread_id", &l->tstate.thread_id},
		{"frame.back", &l->frame.back},
		{"frame.code", &l->frame.code},
		{"frame.size", &l->frame.size},
		{"code.filename", &l->code.filename},
		{"code.name", &l->code.name},
		{"code.firstlineno", &l->code.firstlineno},
		{"code.linetable", &l->code.linetable},
		{"code.size", &l->code.size},
		{"object.ob_type", &l->object.ob_type},
		{"type.tp_flags", &l->type.tp_flags},
		{"bytes.ob_size", &l->bytes.ob_size},
		{"bytes.ob_sval", &l->bytes.ob_sval},
		{"unicode.length", unicode ? &l->unicode.length : NULL},
		{"unicode.state", unicode ? &l->unicode.state : NULL},
		{"unicode.ascii_size", unicode ? &l->unicode.ascii_size : NULL},
		{"unicode.compact_size",
		 unicode ? &l->unicode.compact_size : NULL},
		{"unicode.data", unicode ? &l->unicode.data : NULL},
		{"runtime.gil",
		 runtime && l->minor <= 11 ? &l->runtime.gil : NULL},
		{"interp.gil_ptr", l->minor >= 12 ? &l->interp.gil_ptr : NULL},
		{"interp.gc_collecting",
		 l->gc_line ? &l->interp.gc_collecting : NULL},
		{"tstate.frame", has_cframe ? NULL : &l->tstate.frame},
		{"tstate.cframe", has_cframe ? &l->tstate.cframe : NULL},
		{"cframe.current_frame",
		 has_cframe ? &l->cframe.current_frame : NULL},
		{"frame.lasti", objects ? &l->frame.lasti : NULL},
		{"frame.lineno", l->frame.use_f_lineno ? &l->frame.lineno : NULL},
		{"frame.instr", objects ? NULL : &l->frame.instr},
		{"frame.owner", l->owner_cstack >= 0 ? &l->frame.owner : NULL},
		{"code.code_adaptive", objects ? NULL : &l->code.code_adaptive},
		/* 3.14t runs per-thread copies of the bytecode. */
		{"ft.tlbc_index", tlbc ? &l->ft.tlbc_index : NULL},
		{"ft.co_tlbc", tlbc ? &l->ft.co_tlbc : NULL},
	};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (fields[i].offset && *fields[i].offset == PF_NO_OFFSET) {
			*missing = fields[i].name;
			return false;
		}
	}
	return true;
}

static bool all_present(const struct required *fields, size_t n,
			const char **missing)
{
	for (size_t i = 0; i < n; i++) {
		if (fields[i].offset && *fields[i].offset == PF_NO_OFFSET) {
			*missing = fields[i].name;
			return false;
		}
	}
	return true;
}

/* What reading any dict takes (py_dict.c): 2.7's open table, or the
 * keys object and its entries. */
static bool dicts_complete(const struct pf_layout *l, const char **missing)
{
	bool open = l->dict_open_table;
	bool by_size = !open && l->dict_indices == PF_DICT_INDICES_BY_SIZE;
	bool kinds = !open && l->dict_keys_general >= 0;
	bool split = !open && l->dict_split != PF_DICT_SPLIT_DENSE;
	const struct required fields[] = {
		{"dict.ma_used", open ? NULL : &l->dict.ma_used},
		{"dict.ma_keys", open ? NULL : &l->dict.ma_keys},
		{"dict.ma_values", open ? NULL : &l->dict.ma_values},
		{"dict.ma_mask", open ? &l->dict.ma_mask : NULL},
		{"dict.ma_table", open ? &l->dict.ma_table : NULL},
		{"dict_keys.dk_nentries", open ? NULL : &l->dict_keys.dk_nentries},
		{"dict_keys.dk_indices", open ? NULL : &l->dict_keys.dk_indices},
		{"dict_keys.dk_size", by_size ? &l->dict_keys.dk_size : NULL},
		{"dict_keys.dk_log2_index_bytes",
		 open || by_size ? NULL : &l->dict_keys.dk_log2_index_bytes},
		{"dict_keys.dk_kind", kinds ? &l->dict_keys.dk_kind : NULL},
		{"dict_entry.me_key", &l->dict_entry.me_key},
		{"dict_entry.me_value", &l->dict_entry.me_value},
		{"dict_entry.size", &l->dict_entry.size},
		{"dict_unicode_entry.me_key",
		 kinds ? &l->dict_unicode_entry.me_key : NULL},
		{"dict_unicode_entry.me_value",
		 kinds ? &l->dict_unicode_entry.me_value : NULL},
		{"dict_unicode_entry.size",
		 kinds ? &l->dict_unicode_entry.size : NULL},
		{"dict_values.values", split ? &l->dict_values.values : NULL},
		{"dict_values.capacity",
		 !open && l->dict_split == PF_DICT_SPLIT_ORDER_AFTER
			 ? &l->dict_values.capacity
			 : NULL},
	};
	return all_present(fields, sizeof fields / sizeof fields[0], missing);
}

bool pf_layout_names_complete(const struct pf_layout *l, const char **missing)
{
	bool py2 = l->major == 2;
	bool offset = l->instance_dict == PF_IDICT_OFFSET;
	bool new_long = !py2 && l->minor >= 12;
	const struct required fields[] = {
		{"interp.modules", &l->interp.modules},
		{"module.md_dict", &l->module.md_dict},
		{"type.tp_dictoffset", offset ? &l->type.tp_dictoffset : NULL},
		{"type.tp_basicsize",
		 l->instance_dict == PF_IDICT_INLINE ? &l->type.tp_basicsize
						     : NULL},
		{"heap_type.ht_cached_keys",
		 offset ? NULL : &l->heap_type.ht_cached_keys},
		{"int_obj.ob_ival", py2 ? &l->int_obj.ob_ival : NULL},
		{"long_obj.ob_size",
		 py2 || new_long ? NULL : &l->long_obj.ob_size},
		{"long_obj.lv_tag", new_long ? &l->long_obj.lv_tag : NULL},
		{"long_obj.ob_digit", &l->long_obj.ob_digit},
	};
	return dicts_complete(l, missing) &&
	       all_present(fields, sizeof fields / sizeof fields[0], missing);
}

bool pf_layout_locals_complete(const struct pf_layout *l, const char **missing)
{
	bool fast = l->frame_model == PF_FRAMES_INTERPRETER;
	bool sets = l->major == 3;
	const struct required fields[] = {
		{"locals.localsplus", &l->locals.localsplus},
		{"locals.names", fast ? &l->locals.names : NULL},
		{"locals.kinds", fast ? &l->locals.kinds : NULL},
		{"locals.varnames", fast ? NULL : &l->locals.varnames},
		{"locals.cellvars", fast ? NULL : &l->locals.cellvars},
		{"locals.freevars", fast ? NULL : &l->locals.freevars},
		{"locals.nlocals", fast ? NULL : &l->locals.nlocals},
		{"type_name.tp_name", &l->type_name.tp_name},
		{"tuple.ob_size", &l->tuple.ob_size},
		{"tuple.ob_item", &l->tuple.ob_item},
		{"list.ob_size", &l->list.ob_size},
		{"list.ob_item", &l->list.ob_item},
		{"float_obj.ob_fval", &l->float_obj.ob_fval},
		{"cell.ob_ref", &l->cell.ob_ref},
		{"set.mask", sets ? &l->set.mask : NULL},
		{"set.table", sets ? &l->set.table : NULL},
		{"set_entry.key", sets ? &l->set_entry.key : NULL},
		{"set_entry.size", sets ? &l->set_entry.size : NULL},
		{"set_used.used", sets ? &l->set_used.used : NULL},
	};
	return pf_layout_names_complete(l, missing) &&
	       all_present(fields, sizeof fields / sizeof fields[0], missing);
}

bool pf_layout_modules_complete(const struct pf_layout *l,
				const char **missing)
{
	if (!l->extension_modules_trailer)
		return true;
	const struct required fields[] = {
		{"interp.modules", &l->interp.modules},
		{"interp.sysdict", &l->interp.sysdict},
		{"type.tp_base", &l->type.tp_base},
		{"module.md_def", &l->module.md_def},
		{"module_def.m_methods", &l->module_def.m_methods},
		{"set.mask", &l->set.mask},
		{"set.table", &l->set.table},
		{"set_entry.key", &l->set_entry.key},
		{"set_entry.size", &l->set_entry.size},
	};
	return dicts_complete(l, missing) &&
	       all_present(fields, sizeof fields / sizeof fields[0], missing);
}

const char *pf_layout_source_name(enum pf_layout_source source)
{
	switch (source) {
	case PF_SOURCE_DEBUG_OFFSETS:
		return "_Py_DebugOffsets";
	case PF_SOURCE_DWARF:
		return "DWARF";
	case PF_SOURCE_TABLE:
		return "shipped table";
	default:
		return "none";
	}
}

bool pf_layout_parse_sources(const char *name, unsigned *sources)
{
	static const struct {
		const char *name;
		unsigned sources;
	} names[] = {
		{"auto", PF_SOURCES_ALL},
		{"debug-offsets", PF_SOURCE_BIT(PF_SOURCE_DEBUG_OFFSETS)},
		{"dwarf", PF_SOURCE_BIT(PF_SOURCE_DWARF)},
		{"table", PF_SOURCE_BIT(PF_SOURCE_TABLE)},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(name, names[i].name) == 0) {
			*sources = names[i].sources;
			return true;
		}
	}
	return false;
}
