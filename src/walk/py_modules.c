#include "walk/py_modules.h"

#include <stdlib.h>
#include <string.h>

#include "walk/py_string.h"

/* Py_TPFLAGS_UNICODE_SUBCLASS and Py_TPFLAGS_DICT_SUBCLASS, which
 * PyUnicode_Check and PyDict_Check test (3.8 to 3.13). */
#define UNICODE_SUBCLASS_FLAG (1ull << 28)
#define DICT_SUBCLASS_FLAG (1ull << 29)
/* PyType_IsSubtype walks tp_mro; the tp_base chain reaches every type whose
 * instance layout a subtype extends, as module and frozenset are.  A chain
 * longer than this is taken as corrupt (or a loop). */
#define MAX_BASE_DEPTH 64
/* Entries larger than this mean a corrupt layout. */
#define MAX_ENTRY_SIZE 256
/* The name _Py_DumpExtensionModules looks for among the keys of the sys
 * module's dict. */
#define STDLIB_NAMES_KEY "stdlib_module_names"

struct reader {
	struct pf_mem *mem;
	const struct pf_layout *l;
};

/* Elements of a target array, read a chunk at a time. */
struct array {
	struct pf_mem *mem;
	uint64_t base;
	size_t stride;
	int64_t count;
	int64_t first, cached;   /* buf holds elements [first, first+cached) */
	uint8_t buf[4096];
};

static void array_init(struct array *a, struct pf_mem *mem, uint64_t base,
		       size_t stride, int64_t count)
{
	a->mem = mem;
	a->base = base;
	a->stride = stride;
	a->count = count;
	a->first = a->cached = 0;
}

/* Element i, or NULL when it cannot be read. */
static const uint8_t *array_at(struct array *a, int64_t i)
{
	if (i < 0 || i >= a->count)
		return NULL;
	if (i < a->first || i >= a->first + a->cached) {
		int64_t n = (int64_t)(sizeof a->buf / a->stride);
		if (n > a->count - i)
			n = a->count - i;
		a->cached = 0;
		if (!pf_mem_read(a->mem, a->base + (uint64_t)i * a->stride,
				 a->buf, (size_t)n * a->stride))
			return NULL;
		a->first = i;
		a->cached = n;
	}
	return a->buf + (size_t)(i - a->first) * a->stride;
}

static bool has_type_flag(struct reader *r, uint64_t obj, uint64_t flag)
{
	uint64_t type, flags;
	return obj != 0 &&
	       pf_mem_read_u64(r->mem, obj + r->l->object.ob_type, &type) &&
	       pf_mem_read_u64(r->mem, type + r->l->type.tp_flags, &flags) &&
	       (flags & flag);
}

/* PyObject_TypeCheck(obj, want). */
static bool is_instance(struct reader *r, uint64_t obj, uint64_t want)
{
	uint64_t type;
	if (obj == 0 ||
	    !pf_mem_read_u64(r->mem, obj + r->l->object.ob_type, &type))
		return false;
	for (int depth = 0; type != 0 && depth < MAX_BASE_DEPTH; depth++) {
		if (type == want)
			return true;
		if (!pf_mem_read_u64(r->mem, type + r->l->type.tp_base, &type))
			return false;
	}
	return false;
}

/* PyDict_Next over one dict (Objects/dictobject.c of each version). */
struct dict_iter {
	struct array entries;    /* DK_ENTRIES / DK_UNICODE_ENTRIES */
	int64_t key_off, value_off;
	uint64_t values;         /* ma_values: 0 for a combined table */
	uint64_t order;          /* split: the insertion order bytes */
	int order_step;
	int64_t n, pos;
	struct reader *r;
};

/* Fails when dict is not a readable dict (PyDict_Next returns 0 then). */
static bool dict_iter_init(struct dict_iter *it, struct reader *r,
			   uint64_t dict)
{
	const struct pf_layout *l = r->l;
	uint64_t keys, values, index_bytes;
	int64_t used, nentries;
	memset(it, 0, sizeof *it);
	it->r = r;
	if (!has_type_flag(r, dict, DICT_SUBCLASS_FLAG) ||
	    !pf_mem_read_u64(r->mem, dict + l->dict.ma_keys, &keys) ||
	    !pf_mem_read_u64(r->mem, dict + l->dict.ma_values, &values) ||
	    !pf_mem_read(r->mem, dict + l->dict.ma_used, &used, sizeof used) ||
	    !pf_mem_read(r->mem, keys + l->dict_keys.dk_nentries, &nentries,
			 sizeof nentries))
		return false;
	if (l->dict_indices == PF_DICT_INDICES_BY_SIZE) {
		/* DK_IXSIZE: the narrowest index that holds dk_size. */
		int64_t size;
		if (!pf_mem_read(r->mem, keys + l->dict_keys.dk_size, &size,
				 sizeof size) ||
		    size <= 0 || size > (1ll << 40))
			return false;
		unsigned width = size <= 0xff	     ? 1
				 : size <= 0xffff     ? 2
				 : size <= 0xffffffff ? 4
						      : 8;
		index_bytes = (uint64_t)size * width;
	} else {
		uint8_t log2;
		if (!pf_mem_read(r->mem,
				 keys + l->dict_keys.dk_log2_index_bytes,
				 &log2, 1) ||
		    log2 >= 48)
			return false;
		index_bytes = 1ull << log2;
	}
	/* DK_IS_UNICODE: every kind but DICT_KEYS_GENERAL holds
	 * PyDictUnicodeEntry, split tables included. */
	bool unicode = false;
	if (l->dict_keys_general >= 0) {
		uint8_t kind;
		if (!pf_mem_read(r->mem, keys + l->dict_keys.dk_kind, &kind, 1))
			return false;
		unicode = kind != l->dict_keys_general;
	}
	int64_t size = unicode ? l->dict_unicode_entry.size
			       : l->dict_entry.size;
	it->key_off = unicode ? l->dict_unicode_entry.me_key
			      : l->dict_entry.me_key;
	it->value_off = unicode ? l->dict_unicode_entry.me_value
				: l->dict_entry.me_value;
	if (size <= 0 || size > MAX_ENTRY_SIZE ||
	    it->key_off + 8 > size || it->value_off + 8 > size)
		return false;

	if (nentries < 0 || used < 0)
		return false;
	if (nentries > PF_MAX_DICT_ENTRIES)
		nentries = PF_MAX_DICT_ENTRIES;
	/* Only the first dk_nentries entries are in use, and read. */
	array_init(&it->entries, r->mem,
		   keys + (uint64_t)l->dict_keys.dk_indices + index_bytes,
		   (size_t)size, nentries);
	/* A split table's values live apart, ma_used of them. */
	it->n = values != 0 ? used : nentries;
	if (it->n > PF_MAX_DICT_ENTRIES)
		it->n = PF_MAX_DICT_ENTRIES;
	it->values = values;
	if (values == 0)
		return true;
	switch (l->dict_split) {
	case PF_DICT_SPLIT_DENSE:
		break;
	case PF_DICT_SPLIT_ORDER_BEFORE:
		/* ((char *)ma_values)[-3 - i] */
		it->order = values - 3;
		it->order_step = -1;
		break;
	case PF_DICT_SPLIT_ORDER_AFTER: {
		/* get_insertion_order_array(): after values[capacity]. */
		uint8_t capacity;
		if (!pf_mem_read(r->mem, values + l->dict_values.capacity,
				 &capacity, 1))
			return false;
		it->order = values + (uint64_t)l->dict_values.values +
			    8u * capacity;
		it->order_step = 1;
		break;
	}
	}
	return true;
}

/* The next entry with a value, in PyDict_Next order; false at the end or
 * where the table stops being readable. */
static bool dict_next(struct dict_iter *it, uint64_t *key, uint64_t *value)
{
	const struct pf_layout *l = it->r->l;
	while (it->pos < it->n) {
		int64_t i = it->pos++, index = i;
		if (it->values != 0) {
			uint8_t ix;
			if (it->order != 0) {
				if (!pf_mem_read(it->r->mem,
						 it->order + (uint64_t)(
							 it->order_step * i),
						 &ix, 1))
					continue;
				index = ix;
			}
			uint64_t slot = it->values + 8u * (uint64_t)index;
			if (l->dict_split != PF_DICT_SPLIT_DENSE)
				slot += (uint64_t)l->dict_values.values;
			const uint8_t *entry = array_at(&it->entries, index);
			if (entry == NULL ||
			    !pf_mem_read_u64(it->r->mem, slot, value))
				continue;
			*key = pf_field_u64(entry, it->key_off);
		} else {
			const uint8_t *entry = array_at(&it->entries, i);
			if (entry == NULL)
				return false;
			*key = pf_field_u64(entry, it->key_off);
			*value = pf_field_u64(entry, it->value_off);
		}
		/* Combined tables leave deleted entries' values NULL; a split
		 * table never has one, and a NULL could not be printed. */
		if (*value != 0)
			return true;
	}
	return false;
}

static bool same_text(const struct pf_text *a, const struct pf_text *b)
{
	return a->present && b->present && !a->truncated && !b->truncated &&
	       a->length == b->length &&
	       memcmp(a->chars, b->chars, a->length * sizeof *a->chars) == 0;
}

static bool text_is_ascii(const struct pf_text *t, const char *s)
{
	size_t n = strlen(s);
	if (!t->present || t->truncated || t->length != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t->chars[i] != (unsigned char)s[i])
			return false;
	return true;
}

/* sys.stdlib_module_names as _Py_DumpExtensionModules finds it: the first
 * str key of interp->sysdict equal to "stdlib_module_names", kept only when
 * its value is a frozenset.  0 when there is none: nothing is excluded. */
static uint64_t find_stdlib_names(struct reader *r, uint64_t interp,
				  uint64_t frozenset_type, bool *oom)
{
	uint64_t sysdict, key, value;
	struct dict_iter it;
	if (!pf_mem_read_u64(r->mem, interp + r->l->interp.sysdict,
			     &sysdict) ||
	    sysdict == 0 || !dict_iter_init(&it, r, sysdict))
		return 0;
	while (dict_next(&it, &key, &value)) {
		if (!has_type_flag(r, key, UNICODE_SUBCLASS_FLAG))
			continue;
		struct pf_text name;
		if (!pf_read_text_max(r->mem, r->l, key,
				      sizeof STDLIB_NAMES_KEY, &name)) {
			*oom = true;
			return 0;
		}
		bool found = text_is_ascii(&name, STDLIB_NAMES_KEY);
		pf_text_free(&name);
		if (found)
			return is_instance(r, value, frozenset_type) ? value
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
static bool read_set_strs(struct reader *r, uint64_t set, struct names *out)
{
	const struct pf_layout *l = r->l;
	int64_t mask;
	uint64_t table;
	if (!pf_mem_read(r->mem, set + l->set.mask, &mask, sizeof mask) ||
	    !pf_mem_read_u64(r->mem, set + l->set.table, &table) ||
	    mask < 0 || l->set_entry.size <= 0 ||
	    l->set_entry.size > MAX_ENTRY_SIZE ||
	    l->set_entry.key + 8 > l->set_entry.size)
		return true;
	int64_t slots = mask >= PF_MAX_SET_SLOTS ? PF_MAX_SET_SLOTS : mask + 1;
	struct array *a = malloc(sizeof *a);
	if (a == NULL)
		return false;
	array_init(a, r->mem, table, (size_t)l->set_entry.size, slots);
	bool ok = true;
	for (int64_t i = 0; ok && i < slots; i++) {
		const uint8_t *entry = array_at(a, i);
		if (entry == NULL)
			break;
		/* Empty slots are NULL, deleted ones the dummy, which is no
		 * str: PyUnicode_Check(item) passes over both. */
		uint64_t key = pf_field_u64(entry, l->set_entry.key);
		if (!has_type_flag(r, key, UNICODE_SUBCLASS_FLAG))
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
static bool is_extension(struct reader *r, uint64_t module_type,
			 uint64_t obj)
{
	uint64_t def, methods;
	return is_instance(r, obj, module_type) &&
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

	struct reader r = {mem, l};
	uint64_t modules, key, value;
	struct dict_iter it;
	if (!pf_mem_read_u64(mem, interp + l->interp.modules, &modules) ||
	    modules == 0 || !dict_iter_init(&it, &r, modules))
		return PF_OK;
	bool oom = false;
	uint64_t stdlib = find_stdlib_names(&r, interp, t->frozenset_type,
					    &oom);
	struct names names = {0};
	bool names_read = false;
	size_t cap = 0;
	while (!oom && dict_next(&it, &key, &value)) {
		if (!has_type_flag(&r, key, UNICODE_SUBCLASS_FLAG) ||
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
