#include "layout/layout_debug_offsets.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* Marks a member that this version's _Py_DebugOffsets does not have. */
#define ABSENT UINT64_MAX

/* _Py_DebugOffsets, as CPython 3.14 declares it
 * (Include/internal/pycore_debug_offsets.h): every member a uint64_t,
 * groups led by their struct's size.  Older versions are read into it by
 * member name (see convert()). */
struct debug_offsets {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
	struct {
		uint64_t size, finalizing, interpreters_head;
	} runtime_state;
	struct {
		uint64_t size, id, next, threads_head, threads_main, gc,
			imports_modules, sysdict, builtins, ceval_gil,
			gil_runtime_state, gil_runtime_state_enabled,
			gil_runtime_state_locked, gil_runtime_state_holder,
			code_object_generation, tlbc_generation;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id,
			native_thread_id, datastack_chunk, status;
	} thread_state;
	struct {
		uint64_t size, previous, executable, instr_ptr, localsplus,
			owner, stackpointer, tlbc_index;
	} interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable,
			firstlineno, argcount, localsplusnames,
			localspluskinds, co_code_adaptive, co_tlbc;
	} code_object;
	struct {
		uint64_t size, ob_type;
	} pyobject;
	struct {
		uint64_t size, tp_name, tp_repr, tp_flags;
	} type_object;
	struct {
		uint64_t size, ob_item, ob_size;
	} tuple_object, list_object;
	struct {
		uint64_t size, used, table, mask;
	} set_object;
	struct {
		uint64_t size, ma_keys, ma_values;
	} dict_object;
	struct {
		uint64_t size, ob_fval;
	} float_object;
	struct {
		uint64_t size, lv_tag, ob_digit;
	} long_object;
	struct {
		uint64_t size, ob_size, ob_sval;
	} bytes_object;
	struct {
		uint64_t size, state, length, asciiobject_size;
	} unicode_object;
	struct {
		uint64_t size, collecting;
	} gc;
	struct {
		uint64_t size, gi_name, gi_iframe, gi_frame_state;
	} gen_object;
	struct {
		uint64_t next, prev;
	} llist_node;
	struct {
		uint64_t eval_breaker, remote_debugger_support,
			remote_debugging_enabled, debugger_pending_call,
			debugger_script_path, debugger_script_path_size;
	} debugger_support;
};

/* One group of a version's _Py_DebugOffsets, in declaration order. */
struct group {
	const char *name;
	const char *members;  /* space-separated, in declaration order */
	bool sized;           /* the first member is sizeof the struct */
};

#define HEADER_BYTES 24  /* cookie, version, free_threaded */

static const struct group groups_313[] = {
	{"runtime_state", "size finalizing interpreters_head", true},
	{"interpreter_state",
	 "size id next threads_head gc imports_modules sysdict builtins "
	 "ceval_gil gil_runtime_state gil_runtime_state_enabled "
	 "gil_runtime_state_locked gil_runtime_state_holder",
	 true},
	{"thread_state",
	 "size prev next interp current_frame thread_id native_thread_id "
	 "datastack_chunk status",
	 true},
	{"interpreter_frame",
	 "size previous executable instr_ptr localsplus owner", true},
	{"code_object",
	 "size filename name qualname linetable firstlineno argcount "
	 "localsplusnames localspluskinds co_code_adaptive",
	 true},
	{"pyobject", "size ob_type", true},
	{"type_object", "size tp_name tp_repr tp_flags", true},
	{"tuple_object", "size ob_item ob_size", true},
	{"list_object", "size ob_item ob_size", true},
	{"dict_object", "size ma_keys ma_values", true},
	{"float_object", "size ob_fval", true},
	{"long_object", "size lv_tag ob_digit", true},
	{"bytes_object", "size ob_size ob_sval", true},
	{"unicode_object", "size state length asciiobject_size", true},
	{"gc", "size collecting", true},
};

static const struct group groups_314[] = {
	{"runtime_state", "size finalizing interpreters_head", true},
	{"interpreter_state",
	 "size id next threads_head threads_main gc imports_modules sysdict "
	 "builtins ceval_gil gil_runtime_state gil_runtime_state_enabled "
	 "gil_runtime_state_locked gil_runtime_state_holder "
	 "code_object_generation tlbc_generation",
	 true},
	{"thread_state",
	 "size prev next interp current_frame thread_id native_thread_id "
	 "datastack_chunk status",
	 true},
	{"interpreter_frame",
	 "size previous executable instr_ptr localsplus owner stackpointer "
	 "tlbc_index",
	 true},
	{"code_object",
	 "size filename name qualname linetable firstlineno argcount "
	 "localsplusnames localspluskinds co_code_adaptive co_tlbc",
	 true},
	{"pyobject", "size ob_type", true},
	{"type_object", "size tp_name tp_repr tp_flags", true},
	{"tuple_object", "size ob_item ob_size", true},
	{"list_object", "size ob_item ob_size", true},
	{"set_object", "size used table mask", true},
	{"dict_object", "size ma_keys ma_values", true},
	{"float_object", "size ob_fval", true},
	{"long_object", "size lv_tag ob_digit", true},
	{"bytes_object", "size ob_size ob_sval", true},
	{"unicode_object", "size state length asciiobject_size", true},
	{"gc", "size collecting", true},
	{"gen_object", "size gi_name gi_iframe gi_frame_state", true},
	{"llist_node", "next prev", false},
	{"debugger_support",
	 "eval_breaker remote_debugger_support remote_debugging_enabled "
	 "debugger_pending_call debugger_script_path "
	 "debugger_script_path_size",
	 false},
};

/* No struct pyfault reads is near this; a larger size is corrupt. */
#define MAX_STRUCT_SIZE (1u << 20)

static size_t count_members(const char *members)
{
	size_t n = 1;
	for (const char *p = members; *p; p++)
		n += *p == ' ';
	return n;
}

/* The i-th word of members, copied into out. */
static void member_name(const char *members, size_t i, char *out,
			size_t size)
{
	const char *p = members;
	for (; i > 0; i--)
		p = strchr(p, ' ') + 1;
	size_t len = strcspn(p, " ");
	snprintf(out, size, "%.*s", (int)len, p);
}

static size_t member_index(const char *members, const char *name)
{
	size_t len = strlen(name), i = 0;
	for (const char *p = members;; p = strchr(p, ' ') + 1, i++) {
		if (strncmp(p, name, len) == 0 && (p[len] == ' ' || !p[len]))
			return i;
		if (strchr(p, ' ') == NULL)
			return SIZE_MAX;
	}
}

static size_t blob_size(const struct group *groups, size_t ngroups)
{
	size_t n = HEADER_BYTES;
	for (size_t g = 0; g < ngroups; g++)
		n += 8 * count_members(groups[g].members);
	return n;
}

/* Bytes the walker takes at a member's offset out of its own copy of the
 * struct (frames and code objects are copied whole): such a field must not
 * overhang the end of the struct, or it would be read from pyfault's own
 * memory.  Every other member is read from the target, bounds-checked. */
static uint64_t copied_width(const char *group, const char *member)
{
	static const struct {
		const char *group, *member;
		uint64_t width;
	} widths[] = {
		{"interpreter_frame", "previous", 8},
		{"interpreter_frame", "executable", 8},
		{"interpreter_frame", "instr_ptr", 8},
		{"interpreter_frame", "owner", 1},
		{"interpreter_frame", "tlbc_index", 4},
		{"interpreter_frame", "stackpointer", 8},
		{"code_object", "filename", 8},
		{"code_object", "name", 8},
		{"code_object", "linetable", 8},
		{"code_object", "firstlineno", 4},
	};
	for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++)
		if (strcmp(widths[i].group, group) == 0 &&
		    strcmp(widths[i].member, member) == 0)
			return widths[i].width;
	return 1;
}

/* Every member of a sized group lies inside the struct whose size leads
 * it, with its width where the walker copies the struct; asciiobject_size
 * is itself a size and may equal it. */
static bool validate(const uint8_t *blob, const struct group *groups,
		     size_t ngroups, char *bad, size_t bad_size)
{
	const uint64_t *m = (const uint64_t *)(blob + HEADER_BYTES);
	for (size_t g = 0; g < ngroups; m += count_members(groups[g].members),
		    g++) {
		if (!groups[g].sized)
			continue;
		size_t n = count_members(groups[g].members);
		uint64_t size = m[0];
		if (size == 0 || size > MAX_STRUCT_SIZE) {
			snprintf(bad, bad_size, "%s.size (%llu)",
				 groups[g].name, (unsigned long long)size);
			return false;
		}
		for (size_t i = 1; i < n; i++) {
			char name[48];
			member_name(groups[g].members, i, name, sizeof name);
			bool is_size = strcmp(name, "asciiobject_size") == 0;
			uint64_t width = is_size ? 0
						 : copied_width(groups[g].name,
								name);
			if (m[i] <= size - width)
				continue;
			snprintf(bad, bad_size, "%s.%s (%llu, struct size %llu)",
				 groups[g].name, name,
				 (unsigned long long)m[i],
				 (unsigned long long)size);
			return false;
		}
	}
	return true;
}

/* Copies the blob of a version whose groups are given into the 3.14
 * struct, member by member and by name; what it lacks stays ABSENT. */
static void convert(const uint8_t *blob, const struct group *groups,
		    size_t ngroups, struct debug_offsets *d)
{
	memset(d, 0xff, sizeof *d);
	memcpy(d, blob, HEADER_BYTES);
	const uint64_t *src = (const uint64_t *)(blob + HEADER_BYTES);
	uint64_t *dst = (uint64_t *)((uint8_t *)d + HEADER_BYTES);
	size_t nd = sizeof groups_314 / sizeof groups_314[0];
	for (size_t g = 0; g < ngroups; g++) {
		const struct group *from = &groups[g];
		size_t n = count_members(from->members);
		uint64_t *to = dst;
		const struct group *into = NULL;
		for (size_t k = 0; k < nd && into == NULL; k++) {
			if (strcmp(groups_314[k].name, from->name) == 0)
				into = &groups_314[k];
			else
				to += count_members(groups_314[k].members);
		}
		for (size_t i = 0; into && i < n; i++) {
			char name[48];
			member_name(from->members, i, name, sizeof name);
			size_t j = member_index(into->members, name);
			if (j != SIZE_MAX)
				to[j] = src[i];
		}
		src += n;
	}
}

size_t pf_debug_offsets_size(unsigned minor)
{
	return minor <= 13 ? blob_size(groups_313, sizeof groups_313 /
							   sizeof *groups_313)
			   : sizeof(struct debug_offsets);
}

bool pf_debug_offsets_version(struct pf_mem *mem, uint64_t runtime,
			      uint64_t *hexversion, bool *free_threaded)
{
	uint8_t head[HEADER_BYTES];
	uint64_t ft;
	if (!pf_mem_read(mem, runtime, head, sizeof head) ||
	    memcmp(head, PF_DEBUG_OFFSETS_COOKIE, 8) != 0)
		return false;
	memcpy(hexversion, head + 8, sizeof *hexversion);
	memcpy(&ft, head + 16, sizeof ft);
	*free_threaded = ft != 0;
	return true;
}

/* Stores offset in *field unless the version lacks it. */
static void take(int64_t *field, uint64_t offset)
{
	if (offset != ABSENT)
		*field = (int64_t)offset;
}

static void fill_layout(struct pf_layout *l, const struct debug_offsets *d)
{
	const uint64_t interp_gil = d->interpreter_state.gil_runtime_state;
	take(&l->runtime.interpreters_head, d->runtime_state.interpreters_head);
	take(&l->interp.next, d->interpreter_state.next);
	take(&l->interp.id, d->interpreter_state.id);
	take(&l->locals.localsplus, d->interpreter_frame.localsplus);
	take(&l->locals.names, d->code_object.localsplusnames);
	take(&l->locals.kinds, d->code_object.localspluskinds);
	take(&l->type_name.tp_name, d->type_object.tp_name);
	take(&l->tuple.ob_size, d->tuple_object.ob_size);
	take(&l->tuple.ob_item, d->tuple_object.ob_item);
	take(&l->list.ob_size, d->list_object.ob_size);
	take(&l->list.ob_item, d->list_object.ob_item);
	take(&l->float_obj.ob_fval, d->float_object.ob_fval);
	take(&l->interp.threads_head, d->interpreter_state.threads_head);
	take(&l->interp.gil_ptr, d->interpreter_state.ceval_gil);
	take(&l->interp.gc_collecting,
	     d->interpreter_state.gc + d->gc.collecting);
	take(&l->interp.modules, d->interpreter_state.imports_modules);
	take(&l->interp.sysdict, d->interpreter_state.sysdict);
	/* The GIL fields are given relative to the interpreter that embeds
	 * its own GIL; the walker reads them through ceval.gil, so they are
	 * made relative to the GIL state. */
	take(&l->gil.locked,
	     d->interpreter_state.gil_runtime_state_locked - interp_gil);
	take(&l->gil.last_holder,
	     d->interpreter_state.gil_runtime_state_holder - interp_gil);
	take(&l->tstate.next, d->thread_state.next);
	take(&l->tstate.interp, d->thread_state.interp);
	take(&l->tstate.thread_id, d->thread_state.thread_id);
	take(&l->tstate.frame, d->thread_state.current_frame);
	take(&l->frame.back, d->interpreter_frame.previous);
	take(&l->frame.code, d->interpreter_frame.executable);
	take(&l->frame.instr, d->interpreter_frame.instr_ptr);
	take(&l->frame.owner, d->interpreter_frame.owner);
	take(&l->code.filename, d->code_object.filename);
	take(&l->code.name, d->code_object.name);
	take(&l->code.firstlineno, d->code_object.firstlineno);
	take(&l->code.linetable, d->code_object.linetable);
	take(&l->code.code_adaptive, d->code_object.co_code_adaptive);
	take(&l->object.ob_type, d->pyobject.ob_type);
	take(&l->type.tp_flags, d->type_object.tp_flags);
	take(&l->bytes.ob_size, d->bytes_object.ob_size);
	take(&l->bytes.ob_sval, d->bytes_object.ob_sval);
	take(&l->unicode.length, d->unicode_object.length);
	take(&l->unicode.state, d->unicode_object.state);
	take(&l->unicode.ascii_size, d->unicode_object.asciiobject_size);
	take(&l->dict.ma_keys, d->dict_object.ma_keys);
	take(&l->dict.ma_values, d->dict_object.ma_values);
	take(&l->set.mask, d->set_object.mask);
	take(&l->set.table, d->set_object.table);
	/* Offsets that are 0 in a GIL build, where the fields do not exist. */
	if (d->free_threaded) {
		take(&l->ft.gil_enabled,
		     d->interpreter_state.gil_runtime_state_enabled);
		take(&l->ft.tlbc_index, d->interpreter_frame.tlbc_index);
		take(&l->ft.co_tlbc, d->code_object.co_tlbc);
	}
	/* Not in the table: PyCompactUnicodeObject adds utf8_length and utf8
	 * to PyASCIIObject, and PyUnicodeObject's data follows it (3.12+). */
	l->unicode.compact_size = l->unicode.ascii_size + 16;
	l->unicode.data = l->unicode.compact_size;
	take(&l->coro.gi_iframe, d->gen_object.gi_iframe);
	take(&l->coro.gi_frame_state, d->gen_object.gi_frame_state);
	take(&l->coro.stackpointer, d->interpreter_frame.stackpointer);
	take(&l->coro.llist_next, d->llist_node.next);
	take(&l->coro.tp_name, d->type_object.tp_name);
	take(&l->coro.lv_tag, d->long_object.lv_tag);
	take(&l->coro.ob_digit, d->long_object.ob_digit);
	l->frame.size = (int64_t)d->interpreter_frame.size;
	l->code.size = (int64_t)d->code_object.size;
}

enum pf_status pf_layout_from_debug_offsets_blob(struct pf_layout *l,
						 const void *blob,
						 size_t len,
						 struct pf_error *err)
{
	const struct group *groups = l->minor <= 13 ? groups_313 : groups_314;
	size_t ngroups = l->minor <= 13 ? sizeof groups_313 / sizeof *groups
					: sizeof groups_314 / sizeof *groups;
	if (len < blob_size(groups, ngroups) ||
	    memcmp(blob, PF_DEBUG_OFFSETS_COOKIE, 8) != 0)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "no _Py_DebugOffsets in _PyRuntime");
	uint64_t words[sizeof(struct debug_offsets) / 8];
	uint8_t *aligned = (uint8_t *)words;
	memcpy(aligned, blob, blob_size(groups, ngroups));
	uint64_t version = words[1];
	if ((version >> 24 & 0xff) != l->major ||
	    (version >> 16 & 0xff) != l->minor)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "_Py_DebugOffsets say version 0x%llx, not "
			       "%u.%u",
			       (unsigned long long)version, l->major,
			       l->minor);
	char bad[160];
	if (!validate(aligned, groups, ngroups, bad, sizeof bad))
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "_Py_DebugOffsets field %s lies outside its "
			       "struct: refusing to guess",
			       bad);
	struct debug_offsets d;
	convert(aligned, groups, ngroups, &d);
	/* The members that are offsets into other structs than their
	 * group's. */
	const uint64_t gil = d.interpreter_state.gil_runtime_state;
	if (d.interpreter_state.gc + d.gc.size > d.interpreter_state.size ||
	    d.interpreter_state.gil_runtime_state_locked < gil ||
	    d.interpreter_state.gil_runtime_state_holder < gil)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "_Py_DebugOffsets: the GC or GIL state does not "
			       "fit in the interpreter state: refusing to "
			       "guess");
	if (d.free_threaded)
		pf_layout_set_free_threaded(l);
	fill_layout(l, &d);
	return PF_OK;
}

enum pf_status pf_layout_from_debug_offsets(struct pf_layout *l,
					    struct pf_mem *mem,
					    uint64_t runtime,
					    struct pf_error *err)
{
	uint8_t blob[sizeof(struct debug_offsets)];
	size_t len = pf_debug_offsets_size(l->minor);
	if (!pf_mem_read(mem, runtime, blob, len))
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "cannot read _Py_DebugOffsets at 0x%llx",
			       (unsigned long long)runtime);
	enum pf_status st = pf_layout_from_debug_offsets_blob(l, blob, len,
							       err);
	if (st != PF_OK)
		return st;
	l->source = PF_SOURCE_DEBUG_OFFSETS;
	snprintf(l->source_detail, sizeof l->source_detail,
		 "_Py_DebugOffsets at 0x%llx", (unsigned long long)runtime);
	return PF_OK;
}
