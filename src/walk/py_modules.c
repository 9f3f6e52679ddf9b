#include "walk/py_modules.h"

#include <stdlib.h>
#include <string.h>

#include "walk/py_dict.h"
#include "walk/py_string.h"

/* The name _Py_DumpExtensionModules looks for among the keys of the sys
 * module's dict. */
#define STDLIB_NAMES_KEY "stdlib_module_names"

static bool same_text(const struct pf_text *a, const struct pf_text *b)
{
	return a->present && b->present && !a->truncated && !b->truncated &&
	       a->length == b->length &&
	       memcmp(a->chars, b->chars, a->length * sizeof *a->chars) == 0;
}

/* sys.stdlib_module_names as _Py_DumpExtensionModules finds it: the first
 * str key of interp->sysdict equal to "stdlib_module_names", kept only when
 * its value is a frozenset.  0 when there is none: nothing is excluded. */
static uint64_t find_stdlib_names(struct pf_reader *r, uint64_t interp,
				  uint64_t frozenset_type, bool *oom)
{
	uint64_t sysdict, key, value;
	struct pf_dict_iter it;
	if (!pf_mem_read_u64(r->mem, interp + r->l->interp.sysdict,
			     &sysdict) ||
	    sysdict == 0 || !pf_dict_iter_init(&it, r, sysdict))
		return 0;
	while (pf_dict_next(&it, &key, &value)) {
		if (!pf_has_type_flag(r, key, PF_UNICODE_SUBCLASS_FLAG))
			continue;
		struct pf_text name;
		if (!pf_read_text_max(r->mem, r->l, key,
				      sizeof STDLIB_NAMES_KEY, &name)) {
			*oom = true;
			return 0;
		}
		bool found = pf_text_is_ascii(&name, STDLIB_NAMES_KEY);
		pf_text_free(&name);
		if (found)
			return pf_is_instance(r, value, frozenset_type) ? value
								     : 0;
	}
	return 0;
}

/* The str items of a frozenset, in _PySet_NextEntry order. */
struct names {
	size_t count, cap;
	struct pf_text *items;
};

static void names_free(struct names *n)
{
	for (size_t i = 0; i < n->count; i++)
		pf_text_free(&n->items[i]);
	free(n->items);
	memset(n, 0, sizeof *n);
}

static bool names_add(struct names *n, struct pf_text *text)
{
	if (n->count == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 64;
		struct pf_text *items = realloc(n->items, cap * sizeof *items);
		if (items == NULL)
			return false;
		n->items = items;
		n->cap = cap;
	}
	n->items[n->count++] = *text;
	return true;
}

/* Returns false only when memory runs out. */
static bool read_set_strs(struct pf_reader *r, uint64_t set, struct names *out)
{
	const struct pf_layout *l = r->l;
	int64_t mask;
	uint64_t table;
	if (!pf_mem_read(r->mem, set + l->set.mask, &mask, sizeof mask) ||
	    !pf_mem_read_u64(r->mem, set + l->set.table, &table) ||
	    mask < 0 || !pf_entry_holds(l->set_entry.size, l->set_entry.key))
		return true;
	int64_t slots = mask >= PF_MAX_SET_SLOTS ? PF_MAX_SET_SLOTS : mask + 1;
	struct pf_array *a = malloc(sizeof *a);
	if (a == NULL)
		return false;
	pf_array_init(a, r->mem, table, (size_t)l->set_entry.size, slots);
	bool ok = true;
	for (int64_t i = 0; ok && i < slots; i++) {
		const uint8_t *entry = pf_array_at(a, i);
		if (entry == NULL)
			break;
		/* Empty slots are NULL, deleted ones the dummy, which is no
		 * str: PyUnicode_Check(item) passes over both. */
		uint64_t key = pf_field_u64(entry, l->set_entry.key);
		if (!pf_has_type_flag(r, key, PF_UNICODE_SUBCLASS_FLAG))
			continue;
		struct pf_text text;
		ok = pf_read_text_max(r->mem, l, key, PF_TEXT_MAX_READ, &text);
		if (ok && text.present)
			ok = names_add(out, &text);
		if (!ok || !text.present)
			pf_text_free(&text);
	}
	free(a);
	return ok;
}

static bool names_contain(const struct names *n, const struct pf_text *t)
{
	for (size_t i = 0; i < n->count; i++)
		if (same_text(&n->items[i], t))
			return true;
	return false;
}

/* _PyModule_IsExtension(): a module whose PyModuleDef has methods. */
static bool is_extension(struct pf_reader *r, uint64_t module_type,
			 uint64_t obj)
{
	uint64_t def, methods;
	return pf_is_instance(r, obj, module_type) &&
	       pf_mem_read_u64(r->mem, obj + r->l->module.md_def, &def) &&
	       def != 0 &&
	       pf_mem_read_u64(r->mem, def + r->l->module_def.m_methods,
			       &methods) &&
	       methods != 0;
}

/* Cuts a name read whole for comparing to what _Py_DumpASCII prints. */
static void cut_for_output(struct pf_text *t)
{
	if (t->length <= PF_MAX_STRING_LENGTH)
		return;
	t->length = PF_MAX_STRING_LENGTH;
	t->truncated = true;
	uint32_t *chars = realloc(t->chars, t->length * sizeof *chars);
	if (chars != NULL)
		t->chars = chars;
}

static enum pf_status no_offsets(const struct pf_target *t,
				 const char *what, struct pf_error *err)
{
	const struct pf_layout *l = &t->layout;
	return pf_fail(err, PF_ERR_NO_OFFSETS,
		       "process %d: the \"Extension modules\" line is left "
		       "out: %s gives no %s%s",
		       (int)t->pid, pf_layout_source_name(l->source), what,
		       l->source == PF_SOURCE_DEBUG_OFFSETS
			       ? ", and no DWARF of the interpreter fills in "
				 "the rest"
			       : "");
}

enum pf_status pf_read_extension_modules(struct pf_mem *mem,
					 struct pf_target *t,
					 uint64_t interp,
					 struct pf_module_list *out,
					 struct pf_error *err)
{
	const struct pf_layout *l = &t->layout;
	const char *missing = NULL;
	memset(out, 0, sizeof *out);
	if (!l->extension_modules_trailer || interp == 0)
		return PF_OK;
	pf_target_modules_layout(t);
	if (!pf_layout_modules_complete(l, &missing))
		return no_offsets(t, missing, err);
	if (t->module_type == 0 || t->frozenset_type == 0)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "process %d: the \"Extension modules\" line is "
			       "left out: %s defines no %s",
			       (int)t->pid, t->object_path,
			       t->module_type == 0 ? "PyModule_Type"
						   : "PyFrozenSet_Type");

	struct pf_reader r = {mem, l};
	uint64_t modules, key, value;
	struct pf_dict_iter it;
	if (!pf_mem_read_u64(mem, interp + l->interp.modules, &modules) ||
	    modules == 0 || !pf_dict_iter_init(&it, &r, modules))
		return PF_OK;
	bool oom = false;
	uint64_t stdlib = find_stdlib_names(&r, interp, t->frozenset_type,
					    &oom);
	struct names names = {0};
	bool names_read = false;
	size_t cap = 0;
	while (!oom && pf_dict_next(&it, &key, &value)) {
		if (!pf_has_type_flag(&r, key, PF_UNICODE_SUBCLASS_FLAG) ||
		    !is_extension(&r, t->module_type, value))
			continue;
		struct pf_text name;
		if (!pf_read_text_max(mem, l, key, PF_TEXT_MAX_READ, &name)) {
			oom = true;
			break;
		}
		/* A str whose characters cannot be read: a corrupt key. */
		bool keep = name.present;
		if (keep && stdlib != 0) {
			if (!names_read) {
				oom = !read_set_strs(&r, stdlib, &names);
				names_read = true;
			}
			keep = !oom && !names_contain(&names, &name);
		}
		if (keep && out->count == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct pf_text *grown =
				realloc(out->names, ncap * sizeof *grown);
			oom = grown == NULL;
			if (grown != NULL) {
				out->names = grown;
				cap = ncap;
			}
		}
		if (keep && !oom) {
			cut_for_output(&name);
			out->names[out->count++] = name;
		} else {
			pf_text_free(&name);
		}
	}
	names_free(&names);
	if (oom) {
		pf_module_list_free(out);
		return pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	}
	return PF_OK;
}
