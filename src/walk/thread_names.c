#include "walk/thread_names.h"

#include "walk/py_dict.h"
#include "walk/py_string.h"

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

/* An int of at most 64 bits: a thread id. */
static bool read_int(const struct pf_reader *r, uint64_t obj, uint64_t *out)
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

/* The instance attribute name of obj, 0 when it has none (or it cannot
 * be read): where each version keeps a Python object's __dict__. */
static uint64_t attribute(const struct pf_reader *r, uint64_t obj,
			  const char *name)
{
	const struct pf_layout *l = r->l;
	uint64_t type, flags, dict, keys, values;
	int64_t offset;
	if (!pf_mem_read_u64(r->mem, obj + l->object.ob_type, &type) ||
	    !pf_mem_read_u64(r->mem, type + l->type.tp_flags, &flags))
		return 0;
	switch (l->instance_dict) {
	case PF_IDICT_OFFSET:
		if (!pf_mem_read(r->mem, type + l->type.tp_dictoffset, &offset,
				 sizeof offset) ||
		    offset <= 0 ||
		    !pf_mem_read_u64(r->mem, obj + (uint64_t)offset, &dict))
			return 0;
		return pf_dict_get(r, dict, name);
	case PF_IDICT_MANAGED_311:
		if (!(flags & MANAGED_DICT_FLAG) ||
		    !pf_mem_read_u64(r->mem, obj - MANAGED_DICT_BEFORE, &dict))
			return 0;
		if (dict != 0)
			return pf_dict_get(r, dict, name);
		if (!pf_mem_read_u64(r->mem, obj - VALUES_BEFORE_311, &values))
			return 0;
		break;
	case PF_IDICT_MANAGED_312:
		/* PyDictOrValues: values - 1, odd, when it holds values
		 * (_PyDictOrValues_GetValues). */
		if (!(flags & MANAGED_DICT_FLAG) ||
		    !pf_mem_read_u64(r->mem, obj - MANAGED_DICT_BEFORE, &dict))
			return 0;
		if (!(dict & 1))
			return pf_dict_get(r, dict, name);
		values = dict + 1;
		break;
	case PF_IDICT_INLINE:
		if (!(flags & MANAGED_DICT_FLAG) ||
		    !pf_mem_read_u64(r->mem, obj - MANAGED_DICT_BEFORE, &dict))
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

/* Gives the threads of one interpreter (threads[0..n)) their names. */
static bool name_threads(const struct pf_reader *r, uint64_t interp,
			 struct pf_thread_dump *threads, size_t n)
{
	const struct pf_layout *l = r->l;
	/* 2.7's Thread keeps self.__name, mangled. */
	const char *attr = l->major == 2 ? "_Thread__name" : "_name";
	uint64_t modules, threading, dict, active, key, thread;
	struct pf_dict_iter it;
	if (n == 0 ||
	    !pf_mem_read_u64(r->mem, interp + l->interp.modules, &modules) ||
	    (threading = pf_dict_get(r, modules, "threading")) == 0 ||
	    !pf_mem_read_u64(r->mem, threading + l->module.md_dict, &dict) ||
	    (active = pf_dict_get(r, dict, "_active")) == 0 ||
	    !pf_dict_iter_init(&it, r, active))
		return true;
	while (pf_dict_next(&it, &key, &thread)) {
		uint64_t ident, name;
		if (!read_int(r, key, &ident) ||
		    (name = attribute(r, thread, attr)) == 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct pf_thread_dump *t = &threads[i];
			if (t->thread_id != ident || t->python_name.present)
				continue;
			pf_text_free(&t->python_name);
			if (!pf_read_text(r->mem, l, name, &t->python_name))
				return false;
		}
	}
	return true;
}

enum pf_status pf_read_python_names(struct pf_mem *mem,
				    struct pf_target *t,
				    struct pf_snapshot *snap,
				    struct pf_error *err)
{
	const struct pf_layout *l = &t->layout;
	const char *missing = NULL;
	pf_target_modules_layout(t);
	if (!pf_layout_names_complete(l, &missing))
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "process %d: Python thread names are left out: "
			       "%s gives no %s",
			       (int)t->pid, pf_layout_source_name(l->source),
			       missing);
	const struct pf_reader r = {mem, l};
	bool ok = name_threads(&r, snap->interp, snap->threads,
			       snap->nthreads);
	if (ok && snap->has_outside)
		ok = name_threads(&r, snap->interp, &snap->outside, 1);
	for (size_t k = 0; ok && k < snap->ninterps; k++)
		ok = name_threads(&r, snap->interps[k].addr,
				  snap->interps[k].threads,
				  snap->interps[k].nthreads);
	return ok ? PF_OK : pf_fail(err, PF_ERR_INTERNAL, "out of memory");
}
