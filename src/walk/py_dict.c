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
	    mask < 0 || size <= 0 || size > MAX_ENTRY_SIZE ||
	    l->dict_entry.me_key + 8 > size ||
	    l->dict_entry.me_value + 8 > size)
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
	if (size <= 0 || size > MAX_ENTRY_SIZE ||
	    it->key_off + 8 > size || it->value_off + 8 > size)
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

/* key is the str name (ASCII). */
static bool key_is(const struct pf_reader *r, uint64_t key, const char *name)
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
		if (key_is(r, key, name))
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
		if (key_is(r, pf_field_u64(entry, it.key_off), name))
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
