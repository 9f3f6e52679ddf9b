#include "walk/py_dict.h"

#include <string.h>

#include "walk/py_string.h"

/* PyType_IsSubtype walks tp_mro; the tp_base chain reaches every type whose
 * instance layout a subtype extends, as module and frozenset are.  A chain
 * longer than this is taken as corrupt (or a loop). */
#define MAX_BASE_DEPTH 64
/* Entries larger than this mean a corrupt layout. */
#define MAX_ENTRY_SIZE 256

void pf_array_init(struct pf_array *a, struct pf_mem *mem, uint64_t base,
		   size_t stride, int64_t count)
{
	a->mem = mem;
	a->base = base;
	a->stride = stride;
	a->count = count;
	a->first = a->cached = 0;
}

const uint8_t *pf_array_at(struct pf_array *a, int64_t i)
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

bool pf_has_type_flag(const struct pf_reader *r, uint64_t obj, uint64_t flag)
{
	uint64_t type, flags;
	return obj != 0 &&
	       pf_mem_read_u64(r->mem, obj + r->l->object.ob_type, &type) &&
	       pf_mem_read_u64(r->mem, type + r->l->type.tp_flags, &flags) &&
	       (flags & flag);
}

bool pf_is_instance(const struct pf_reader *r, uint64_t obj, uint64_t want)
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

bool pf_entry_holds(int64_t size, int64_t offset)
{
	return size > 0 && size <= MAX_ENTRY_SIZE && offset >= 0 &&
	       offset <= size - 8;
}

/* 2.7: ma_mask + 1 PyDictEntry slots, NULL values in the free and
 * deleted ones. */
static bool open_table_init(struct pf_dict_iter *it, const struct pf_reader *r,
			    uint64_t dict)
{
	const struct pf_layout *l = r->l;
	int64_t mask, size = l->dict_entry.size;
	uint64_t table;
	if (!pf_has_type_flag(r, dict, PF_DICT_SUBCLASS_FLAG) ||
	    !pf_mem_read(r->mem, dict + l->dict.ma_mask, &mask, sizeof mask) ||
	    !pf_mem_read_u64(r->mem, dict + l->dict.ma_table, &table) ||
	    mask < 0 ||
	    !pf_entry_holds(size, l->dict_entry.me_key) ||
	    !pf_entry_holds(size, l->dict_entry.me_value))
		return false;
	it->n = mask >= PF_MAX_DICT_ENTRIES ? PF_MAX_DICT_ENTRIES : mask + 1;
	it->key_off = l->dict_entry.me_key;
	it->value_off = l->dict_entry.me_value;
	pf_array_init(&it->entries, r->mem, table, (size_t)size, it->n);
	return true;
}

/* The entries of the keys object keys: dk_nentries of them, after the
 * hash index, each a PyDictKeyEntry or a PyDictUnicodeEntry. */
static bool keys_init(struct pf_dict_iter *it, const struct pf_reader *r,
		      uint64_t keys)
{
	const struct pf_layout *l = r->l;
	uint64_t index_bytes;
	int64_t nentries;
	if (!pf_mem_read(r->mem, keys + l->dict_keys.dk_nentries, &nentries,
			 sizeof nentries) ||
	    nentries < 0)
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
	if (!pf_entry_holds(size, it->key_off) ||
	    !pf_entry_holds(size, it->value_off))
		return false;
	if (nentries > PF_MAX_DICT_ENTRIES)
		nentries = PF_MAX_DICT_ENTRIES;
	/* Only the first dk_nentries entries are in use, and read. */
	pf_array_init(&it->entries, r->mem,
		      keys + (uint64_t)l->dict_keys.dk_indices + index_bytes,
		      (size_t)size, nentries);
	it->n = nentries;
	return true;
}

bool pf_dict_iter_init(struct pf_dict_iter *it, const struct pf_reader *r,
		       uint64_t dict)
{
	const struct pf_layout *l = r->l;
	uint64_t keys, values;
	int64_t used;
	memset(it, 0, sizeof *it);
	it->r = r;
	if (l->dict_open_table)
		return open_table_init(it, r, dict);
	if (!pf_has_type_flag(r, dict, PF_DICT_SUBCLASS_FLAG) ||
	    !pf_mem_read_u64(r->mem, dict + l->dict.ma_keys, &keys) ||
	    !pf_mem_read_u64(r->mem, dict + l->dict.ma_values, &values) ||
	    !pf_mem_read(r->mem, dict + l->dict.ma_used, &used, sizeof used) ||
	    used < 0 || !keys_init(it, r, keys))
		return false;
	/* A split table's values live apart, ma_used of them. */
	if (values != 0)
		it->n = used > PF_MAX_DICT_ENTRIES ? PF_MAX_DICT_ENTRIES : used;
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

bool pf_dict_next(struct pf_dict_iter *it, uint64_t *key, uint64_t *value)
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
			const uint8_t *entry = pf_array_at(&it->entries, index);
			if (entry == NULL ||
			    !pf_mem_read_u64(it->r->mem, slot, value))
				continue;
			*key = pf_field_u64(entry, it->key_off);
		} else {
			const uint8_t *entry = pf_array_at(&it->entries, i);
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

bool pf_str_is(const struct pf_reader *r, uint64_t key, const char *name)
{
	struct pf_text text;
	size_t n = strlen(name);
	if (!pf_read_text_max(r->mem, r->l, key, (uint32_t)n + 1, &text))
		return false;
	bool same = text.present && !text.truncated && text.length == n;
	for (size_t i = 0; same && i < n; i++)
		same = text.chars[i] == (unsigned char)name[i];
	pf_text_free(&text);
	return same;
}

uint64_t pf_dict_get(const struct pf_reader *r, uint64_t dict,
		     const char *name)
{
	struct pf_dict_iter it;
	uint64_t key, value;
	if (dict == 0 || !pf_dict_iter_init(&it, r, dict))
		return 0;
	while (pf_dict_next(&it, &key, &value))
		if (pf_str_is(r, key, name))
			return value;
	return 0;
}

uint64_t pf_split_get(const struct pf_reader *r, uint64_t keys,
		      uint64_t values, const char *name)
{
	const struct pf_layout *l = r->l;
	struct pf_dict_iter it;
	uint64_t value;
	if (keys == 0 || values == 0 || !keys_init(&it, r, keys))
		return 0;
	for (int64_t i = 0; i < it.entries.count; i++) {
		const uint8_t *entry = pf_array_at(&it.entries, i);
		if (entry == NULL)
			return 0;
		if (pf_str_is(r, pf_field_u64(entry, it.key_off), name))
			return pf_mem_read_u64(r->mem,
					       values + (uint64_t)l->dict_values
								.values +
						       8u * (uint64_t)i,
					       &value)
				       ? value
				       : 0;
	}
	return 0;
}

/* Py_TPFLAGS_INT_SUBCLASS (2.7) and Py_TPFLAGS_LONG_SUBCLASS. */
#define INT_SUBCLASS_FLAG (1ull << 23)
#define LONG_SUBCLASS_FLAG (1ull << 24)
/* Py_TPFLAGS_INLINE_VALUES (3.13+) and Py_TPFLAGS_MANAGED_DICT (3.11+). */
#define INLINE_VALUES_FLAG (1ull << 2)
#define MANAGED_DICT_FLAG (1ull << 4)
/* PyLong digits of every 64-bit Linux build (PYLONG_BITS_IN_DIGIT 30;
 * 15-bit digits take --enable-big-digits=15, which no distribution
 * uses). */
#define DIGIT_BITS 30
/* Where the managed dict pointer (and 3.11's values pointer) sit before
 * the object: _PyObject_ManagedDictPointer, _PyObject_ValuesPointer. */
#define MANAGED_DICT_BEFORE 24
#define VALUES_BEFORE_311 32

bool pf_read_uint64(const struct pf_reader *r, uint64_t obj, uint64_t *out)
{
	const struct pf_layout *l = r->l;
	if (l->major == 2 && pf_has_type_flag(r, obj, INT_SUBCLASS_FLAG)) {
		int64_t v;
		if (!pf_mem_read(r->mem, obj + l->int_obj.ob_ival, &v,
				 sizeof v))
			return false;
		*out = (uint64_t)v;
		return true;
	}
	if (!pf_has_type_flag(r, obj, LONG_SUBCLASS_FLAG))
		return false;
	int64_t ndigits;
	bool negative;
	if (l->long_obj.lv_tag != PF_NO_OFFSET) {
		/* 3.12+: digit count << 3, sign in the low two bits. */
		uint64_t tag;
		if (!pf_mem_read_u64(r->mem, obj + l->long_obj.lv_tag, &tag))
			return false;
		ndigits = (int64_t)(tag >> 3);
		negative = (tag & 3) == 2;
	} else {
		int64_t size;
		if (!pf_mem_read(r->mem, obj + l->long_obj.ob_size, &size,
				 sizeof size))
			return false;
		negative = size < 0;
		ndigits = negative ? -size : size;
	}
	uint32_t digits[3];
	if (negative || ndigits > 3 ||
	    !pf_mem_read(r->mem, obj + l->long_obj.ob_digit, digits,
			 4 * (size_t)ndigits))
		return false;
	uint64_t v = 0;
	for (int64_t i = ndigits; i-- > 0;) {
		if (digits[i] >> DIGIT_BITS ||
		    (i == 2 && digits[i] >> (64 - 2 * DIGIT_BITS)))
			return false;
		v = v << DIGIT_BITS | digits[i];
	}
	*out = v;
	return true;
}

uint64_t pf_instance_attr(const struct pf_reader *r, uint64_t obj,
			  const char *name)
{
	const struct pf_layout *l = r->l;
	uint64_t type, flags, dict, keys, values;
	int64_t offset;
	if (!pf_mem_read_u64(r->mem, obj + l->object.ob_type, &type) ||
	    !pf_mem_read_u64(r->mem, type + l->type.tp_flags, &flags))
		return 0;
	/* A class without a managed dict (any class before 3.11, or one
	 * whose base has a dict slot, as asyncio's Future) keeps it at
	 * tp_dictoffset. */
	if (l->instance_dict == PF_IDICT_OFFSET ||
	    !(flags & MANAGED_DICT_FLAG)) {
		if (!pf_mem_read(r->mem, type + l->type.tp_dictoffset, &offset,
				 sizeof offset) ||
		    offset <= 0 ||
		    !pf_mem_read_u64(r->mem, obj + (uint64_t)offset, &dict))
			return 0;
		return pf_dict_get(r, dict, name);
	}
	switch (l->instance_dict) {
	case PF_IDICT_MANAGED_311:
		if (!pf_mem_read_u64(r->mem, obj - MANAGED_DICT_BEFORE, &dict))
			return 0;
		if (dict != 0)
			return pf_dict_get(r, dict, name);
		if (!pf_mem_read_u64(r->mem, obj - VALUES_BEFORE_311, &values))
			return 0;
		break;
	case PF_IDICT_MANAGED_312:
		/* PyDictOrValues: values - 1, odd, when it holds values
		 * (_PyDictOrValues_GetValues). */
		if (!pf_mem_read_u64(r->mem, obj - MANAGED_DICT_BEFORE, &dict))
			return 0;
		if (!(dict & 1))
			return pf_dict_get(r, dict, name);
		values = dict + 1;
		break;
	case PF_IDICT_INLINE:
		if (!pf_mem_read_u64(r->mem, obj - MANAGED_DICT_BEFORE, &dict))
			return 0;
		if (dict != 0)
			return pf_dict_get(r, dict, name);
		if (!(flags & INLINE_VALUES_FLAG) ||
		    !pf_mem_read(r->mem, type + l->type.tp_basicsize, &offset,
				 sizeof offset) ||
		    offset <= 0)
			return 0;
		values = obj + (uint64_t)offset;
		break;
	default:
		return 0;
	}
	/* Split values: the keys are the class's cached keys. */
	if (!pf_mem_read_u64(r->mem, type + l->heap_type.ht_cached_keys,
			     &keys))
		return 0;
	return pf_split_get(r, keys, values, name);
}
