#include "layout_debug_offsets.h"

#include <stdio.h>
#include <string.h>

/* _Py_DebugOffsets of CPython 3.13 (Include/internal/pycore_runtime.h):
 * every member is a uint64_t, struct sizes first in each group. */
struct debug_offsets_313 {
	char cookie[8];
	uint64_t version;
	uint64_t free_threaded;
	struct {
		uint64_t size, finalizing, interpreters_head;
	} runtime_state;
	struct {
		uint64_t size, id, next, threads_head, gc, imports_modules,
			sysdict, builtins, ceval_gil, gil_runtime_state,
			gil_runtime_state_enabled, gil_runtime_state_locked,
			gil_runtime_state_holder;
	} interpreter_state;
	struct {
		uint64_t size, prev, next, interp, current_frame, thread_id,
			native_thread_id, datastack_chunk, status;
	} thread_state;
	struct {
		uint64_t size, previous, executable, instr_ptr, localsplus,
			owner;
	} interpreter_frame;
	struct {
		uint64_t size, filename, name, qualname, linetable,
			firstlineno, argcount, localsplusnames,
			localspluskinds, co_code_adaptive;
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
};

bool pf_debug_offsets_version(struct pf_mem *mem, uint64_t runtime,
			      uint64_t *hexversion)
{
	char head[16];
	if (!pf_mem_read(mem, runtime, head, sizeof head) ||
	    memcmp(head, PF_DEBUG_OFFSETS_COOKIE, 8) != 0)
		return false;
	memcpy(hexversion, head + 8, sizeof *hexversion);
	return true;
}

/* Stores offset in *field if a field of width bytes there lies inside a
 * struct of size bytes: the walker copies whole structs and picks fields
 * out of the copy, so a field that overhangs the end would be read from
 * pyfault's own memory. */
static bool take(int64_t *field, uint64_t offset, uint64_t width,
		 uint64_t size, const char **bad, const char *name)
{
	if (size > (1u << 20) || size < width || offset > size - width) {
		*bad = name;
		return false;
	}
	*field = (int64_t)offset;
	return true;
}

enum pf_status pf_layout_from_debug_offsets(struct pf_layout *l,
					    struct pf_mem *mem,
					    uint64_t runtime,
					    struct pf_error *err)
{
	struct debug_offsets_313 d;
	if (!pf_mem_read(mem, runtime, &d, sizeof d) ||
	    memcmp(d.cookie, PF_DEBUG_OFFSETS_COOKIE, 8) != 0)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "no _Py_DebugOffsets in _PyRuntime");
	if (d.free_threaded)
		return pf_fail(err, PF_ERR_UNSUPPORTED,
			       "free-threaded Python builds are not "
			       "supported yet");
	uint64_t gil_size = d.interpreter_state.size -
			    d.interpreter_state.gil_runtime_state;
	const char *bad = NULL;
	bool ok =
		take(&l->runtime.interpreters_head,
		     d.runtime_state.interpreters_head, 8, d.runtime_state.size,
		     &bad, "runtime_state.interpreters_head") &&
		take(&l->interp.next, d.interpreter_state.next, 8,
		     d.interpreter_state.size, &bad,
		     "interpreter_state.next") &&
		take(&l->interp.threads_head,
		     d.interpreter_state.threads_head, 8,
		     d.interpreter_state.size, &bad,
		     "interpreter_state.threads_head") &&
		take(&l->interp.gil_ptr, d.interpreter_state.ceval_gil, 8,
		     d.interpreter_state.size, &bad,
		     "interpreter_state.ceval_gil") &&
		take(&l->interp.gc_collecting,
		     d.interpreter_state.gc + d.gc.collecting, 4,
		     d.interpreter_state.size, &bad, "gc.collecting") &&
		/* The GIL fields are given relative to the interpreter that
		 * embeds its own GIL; the walker reads them through
		 * ceval.gil, so they are made relative to the GIL state. */
		take(&l->gil.locked,
		     d.interpreter_state.gil_runtime_state_locked -
			     d.interpreter_state.gil_runtime_state, 4,
		     gil_size, &bad, "gil_runtime_state_locked") &&
		take(&l->gil.last_holder,
		     d.interpreter_state.gil_runtime_state_holder -
			     d.interpreter_state.gil_runtime_state, 8,
		     gil_size, &bad, "gil_runtime_state_holder") &&
		take(&l->tstate.next, d.thread_state.next, 8,
		     d.thread_state.size, &bad, "thread_state.next") &&
		take(&l->tstate.interp, d.thread_state.interp, 8,
		     d.thread_state.size, &bad, "thread_state.interp") &&
		take(&l->tstate.thread_id, d.thread_state.thread_id, 8,
		     d.thread_state.size, &bad, "thread_state.thread_id") &&
		take(&l->tstate.frame, d.thread_state.current_frame, 8,
		     d.thread_state.size, &bad, "thread_state.current_frame") &&
		take(&l->frame.back, d.interpreter_frame.previous, 8,
		     d.interpreter_frame.size, &bad, "frame.previous") &&
		take(&l->frame.code, d.interpreter_frame.executable, 8,
		     d.interpreter_frame.size, &bad, "frame.executable") &&
		take(&l->frame.instr, d.interpreter_frame.instr_ptr, 8,
		     d.interpreter_frame.size, &bad, "frame.instr_ptr") &&
		take(&l->frame.owner, d.interpreter_frame.owner, 1,
		     d.interpreter_frame.size, &bad, "frame.owner") &&
		take(&l->code.filename, d.code_object.filename, 8,
		     d.code_object.size, &bad, "code.filename") &&
		take(&l->code.name, d.code_object.name, 8, d.code_object.size,
		     &bad, "code.name") &&
		take(&l->code.firstlineno, d.code_object.firstlineno, 4,
		     d.code_object.size, &bad, "code.firstlineno") &&
		take(&l->code.linetable, d.code_object.linetable, 8,
		     d.code_object.size, &bad, "code.linetable") &&
		take(&l->code.code_adaptive, d.code_object.co_code_adaptive, 1,
		     d.code_object.size, &bad, "code.co_code_adaptive") &&
		take(&l->object.ob_type, d.pyobject.ob_type, 8, d.pyobject.size,
		     &bad, "pyobject.ob_type") &&
		take(&l->type.tp_flags, d.type_object.tp_flags, 8,
		     d.type_object.size, &bad, "type_object.tp_flags") &&
		take(&l->bytes.ob_size, d.bytes_object.ob_size, 8,
		     d.bytes_object.size, &bad, "bytes_object.ob_size") &&
		take(&l->bytes.ob_sval, d.bytes_object.ob_sval, 1,
		     d.bytes_object.size, &bad, "bytes_object.ob_sval") &&
		take(&l->unicode.length, d.unicode_object.length, 8,
		     d.unicode_object.size, &bad, "unicode_object.length") &&
		take(&l->unicode.state, d.unicode_object.state, 4,
		     d.unicode_object.size, &bad, "unicode_object.state") &&
		take(&l->unicode.ascii_size,
		     d.unicode_object.asciiobject_size, 1,
		     d.unicode_object.size, &bad,
		     "unicode_object.asciiobject_size");
	if (!ok)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "_Py_DebugOffsets field %s lies outside its "
			       "struct: refusing to guess",
			       bad);
	/* What they give of the "Extension modules" trailer's needs; the
	 * rest (dict keys, modules, sets) they do not describe. */
	const struct {
		int64_t *field;
		uint64_t offset, size;
	} modules[] = {
		{&l->interp.modules, d.interpreter_state.imports_modules,
		 d.interpreter_state.size},
		{&l->interp.sysdict, d.interpreter_state.sysdict,
		 d.interpreter_state.size},
		{&l->dict.ma_keys, d.dict_object.ma_keys, d.dict_object.size},
		{&l->dict.ma_values, d.dict_object.ma_values,
		 d.dict_object.size},
	};
	for (size_t i = 0; i < sizeof modules / sizeof modules[0]; i++)
		if (modules[i].offset < modules[i].size)
			*modules[i].field = (int64_t)modules[i].offset;
	/* Not in the table: PyCompactUnicodeObject adds utf8_length and utf8
	 * to PyASCIIObject, and PyUnicodeObject's data follows it (3.12+). */
	l->unicode.compact_size = l->unicode.ascii_size + 16;
	l->unicode.data = l->unicode.compact_size;
	l->frame.size = (int64_t)d.interpreter_frame.size;
	l->code.size = (int64_t)d.code_object.size;
	l->source = PF_SOURCE_DEBUG_OFFSETS;
	snprintf(l->source_detail, sizeof l->source_detail,
		 "_Py_DebugOffsets at 0x%llx", (unsigned long long)runtime);
	return PF_OK;
}
