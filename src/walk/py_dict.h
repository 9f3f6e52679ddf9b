/* Reading the target's dicts as PyDict_Next walks them (every layout from
 * 2.7's open table to 3.13's split values), and the type checks that go
 * with them. */
#ifndef PYFAULT_PY_DICT_H
#define PYFAULT_PY_DICT_H

#include <stdbool.h>
#include <stdint.h>

#include "layout/py_layout.h"
#include "process/remote_mem.h"

/* A dict larger than this is taken as corrupt: only its first entries are
 * looked at. */
#define PF_MAX_DICT_ENTRIES (1u << 20)

/* Py_TPFLAGS_UNICODE_SUBCLASS and Py_TPFLAGS_DICT_SUBCLASS, the same bits
 * from 2.7 to 3.14. */
#define PF_UNICODE_SUBCLASS_FLAG (1ull << 28)
#define PF_DICT_SUBCLASS_FLAG (1ull << 29)

struct pf_reader {
	struct pf_mem *mem;
	const struct pf_layout *l;
};

/* Elements of a target array, read a chunk at a time. */
struct pf_array {
	struct pf_mem *mem;
	uint64_t base;
	size_t stride;
	int64_t count;
	int64_t first, cached;   /* buf holds elements [first, first+cached) */
	uint8_t buf[4096];
};

void pf_array_init(struct pf_array *a, struct pf_mem *mem, uint64_t base,
		   size_t stride, int64_t count);

/* Element i, or NULL when it cannot be read. */
const uint8_t *pf_array_at(struct pf_array *a, int64_t i);

/* Whether elements of size bytes hold the 8-byte field at offset: a
 * layout without it (a negative offset) or a corrupt one is refused, so
 * that every read of an element stays inside it. */
bool pf_entry_holds(int64_t size, int64_t offset);

/* The type of obj has the tp_flags bit flag. */
bool pf_has_type_flag(const struct pf_reader *r, uint64_t obj, uint64_t flag);

/* PyObject_TypeCheck(obj, want), along tp_base. */
bool pf_is_instance(const struct pf_reader *r, uint64_t obj, uint64_t want);

/* PyDict_Next over one dict (Objects/dictobject.c of each version). */
struct pf_dict_iter {
	struct pf_array entries;  /* DK_ENTRIES / DK_UNICODE_ENTRIES, or
	                             2.7's ma_table */
	int64_t key_off, value_off;
	uint64_t values;          /* ma_values: 0 for a combined table */
	uint64_t order;           /* split: the insertion order bytes */
	int order_step;
	int64_t n, pos;
	const struct pf_reader *r;
};

/* Fails when dict is not a readable dict (PyDict_Next returns 0 then). */
bool pf_dict_iter_init(struct pf_dict_iter *it, const struct pf_reader *r,
		       uint64_t dict);

/* The next entry with a value, in PyDict_Next order; false at the end or
 * where the table stops being readable. */
bool pf_dict_next(struct pf_dict_iter *it, uint64_t *key, uint64_t *value);

/* The object at key is the str name (ASCII). */
bool pf_str_is(const struct pf_reader *r, uint64_t key, const char *name);

/* The value of the str key name (ASCII) in dict, 0 when it has none. */
uint64_t pf_dict_get(const struct pf_reader *r, uint64_t dict,
		     const char *name);

/* The same in split values whose keys are keys (a PyDictKeysObject):
 * the value of entry i is at values + 8 * i. */
uint64_t pf_split_get(const struct pf_reader *r, uint64_t keys,
		      uint64_t values, const char *name);

/* A non-negative int of at most 64 bits (a thread id), false when obj is
 * not one. */
bool pf_read_uint64(const struct pf_reader *r, uint64_t obj, uint64_t *out);

/* The instance attribute name of obj, 0 when it has none (or it cannot be
 * read): where each version keeps a Python object's __dict__. */
uint64_t pf_instance_attr(const struct pf_reader *r, uint64_t obj,
			  const char *name);

#endif
