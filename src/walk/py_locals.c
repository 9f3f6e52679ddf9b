#include "walk/py_locals.h"

#include <stdlib.h>
#include <string.h>

#include "walk/py_repr.h"
#include "walk/py_string.h"

/* CO_FAST_* of Include/internal/pycore_code.h (3.11+). */
#define CO_FAST_HIDDEN 0x10
#define CO_FAST_CELL 0x40
#define CO_FAST_FREE 0x80

/* A tuple of names (co_varnames, co_localsplusnames ...): where its
 * items are and how many; more than MAX_NAMES is taken as corrupt. */
#define MAX_NAMES (1 << 20)
struct names {
	uint64_t items;       /* ob_item */
	int64_t count;
};

static bool read_tuple(const struct pf_reader *r, uint64_t tuple,
		       struct names *out)
{
	const struct pf_layout *l = r->l;
	out->items = tuple + (uint64_t)l->tuple.ob_item;
	return tuple != 0 &&
	       pf_mem_read(r->mem, tuple + (uint64_t)l->tuple.ob_size,
			   &out->count, sizeof out->count) &&
	       out->count >= 0 && out->count <= MAX_NAMES;
}

/* The content of a cell, or value itself when it is no cell (a 3.11+
 * frame that has not yet run MAKE_CELL). */
static uint64_t deref(const struct pf_reader *r,
		      const struct pf_object_types *types, uint64_t value)
{
	uint64_t type, content;
	if (value == 0 || types->cell_type == 0 ||
	    !pf_mem_read_u64(r->mem, value + r->l->object.ob_type, &type) ||
	    type != types->cell_type)
		return value;
	return pf_mem_read_u64(r->mem, value + (uint64_t)r->l->cell.ob_ref,
			       &content)
		       ? content
		       : 0;
}

static bool add_local(const struct pf_reader *r,
		      const struct pf_object_types *types, uint64_t name,
		      const char *kind, uint64_t value,
		      struct pf_locals_budget *budget, struct pf_frame *f)
{
	if (value == 0)
		return true;            /* unbound: not in f_locals */
	if (f->nlocals == PF_MAX_LOCALS || budget->locals == 0 ||
	    budget->bytes == 0) {
		f->locals_truncated = true;
		return true;
	}
	/* Grown as needed: most frames have a few locals. */
	if ((f->nlocals & (f->nlocals - 1)) == 0) {
		size_t cap = f->nlocals ? 2u * f->nlocals : 1;
		struct pf_local *grown =
			realloc(f->locals, cap * sizeof *grown);
		if (grown == NULL)
			return false;
		f->locals = grown;
	}
	struct pf_local *local = &f->locals[f->nlocals];
	memset(local, 0, sizeof *local);
	if (!pf_read_text(r->mem, r->l, name, &local->name))
		return false;
	local->kind = kind;
	local->repr = pf_repr(r, types, value, local->type,
			      sizeof local->type);
	if (local->repr == NULL) {
		pf_text_free(&local->name);
		return false;
	}
	size_t len = strlen(local->repr);
	budget->bytes = len < budget->bytes ? budget->bytes - len : 0;
	budget->locals--;
	f->nlocals++;
	return true;
}

/* 3.11+: localsplus[i] named co_localsplusnames[i], of the kind
 * co_localspluskinds[i]. */
static bool fast_locals(const struct pf_reader *r,
			const struct pf_object_types *types, uint64_t frame,
			uint64_t code, struct pf_locals_budget *budget,
			struct pf_frame *f)
{
	const struct pf_layout *l = r->l;
	uint64_t names_obj, kinds_obj;
	struct names names;
	int64_t nkinds;
	if (!pf_mem_read_u64(r->mem, code + (uint64_t)l->locals.names,
			     &names_obj) ||
	    !pf_mem_read_u64(r->mem, code + (uint64_t)l->locals.kinds,
			     &kinds_obj) ||
	    !read_tuple(r, names_obj, &names) ||
	    !pf_mem_read(r->mem, kinds_obj + l->bytes.ob_size, &nkinds,
			 sizeof nkinds) ||
	    nkinds != names.count)
		return true;
	for (int64_t i = 0; i < names.count; i++) {
		uint64_t name, value;
		uint8_t kind;
		if (!pf_mem_read_u64(r->mem, names.items + 8u * (uint64_t)i,
				     &name) ||
		    !pf_mem_read(r->mem,
				 kinds_obj + (uint64_t)l->bytes.ob_sval +
					 (uint64_t)i,
				 &kind, 1) ||
		    !pf_mem_read_u64(r->mem,
				     frame + (uint64_t)l->locals.localsplus +
					     8u * (uint64_t)i,
				     &value))
			return true;
		if (kind & CO_FAST_HIDDEN)
			continue;
		/* 3.14's _PyStackRef: its tag bits are no part of the
		 * address. */
		value &= ~l->code_tag_mask;
		bool cell = kind & (CO_FAST_CELL | CO_FAST_FREE);
		if (!add_local(r, types, name,
			       kind & CO_FAST_FREE   ? "free"
			       : kind & CO_FAST_CELL ? "cell"
						     : "local",
			       cell ? deref(r, types, value) : value, budget,
			       f))
			return false;
	}
	return true;
}

/* name is an item of tuple (a cell argument is in co_varnames and
 * co_cellvars: f_locals shows its cell's value, at the cell's place). */
static bool in_tuple(const struct pf_reader *r, uint64_t tuple,
		     uint64_t name)
{
	struct names names;
	uint64_t item;
	if (!read_tuple(r, tuple, &names))
		return false;
	for (int64_t i = 0; i < names.count; i++)
		if (pf_mem_read_u64(r->mem, names.items + 8u * (uint64_t)i,
				    &item) &&
		    pf_text_equal(r->mem, r->l, item, name))
			return true;
	return false;
}

/* Up to 3.10: f_localsplus holds co_nlocals locals (co_varnames), then
 * the cells of co_cellvars, then those of co_freevars. */
static bool object_locals(const struct pf_reader *r,
			  const struct pf_object_types *types, uint64_t frame,
			  uint64_t code, struct pf_locals_budget *budget,
			  struct pf_frame *f)
{
	const struct pf_layout *l = r->l;
	const int64_t offsets[] = {l->locals.varnames, l->locals.cellvars,
				   l->locals.freevars};
	static const char *const kinds[] = {"local", "cell", "free"};
	int32_t nlocals;
	if (!pf_mem_read_i32(r->mem, code + (uint64_t)l->locals.nlocals,
			     &nlocals) ||
	    nlocals < 0)
		return true;
	uint64_t slot = frame + (uint64_t)l->locals.localsplus, cellvars;
	if (!pf_mem_read_u64(r->mem, code + (uint64_t)l->locals.cellvars,
			     &cellvars))
		return true;
	for (int part = 0; part < 3; part++) {
		uint64_t tuple;
		struct names names;
		if (!pf_mem_read_u64(r->mem, code + (uint64_t)offsets[part],
				     &tuple) ||
		    !read_tuple(r, tuple, &names))
			return true;
		/* co_varnames may name more than the fast locals. */
		int64_t count = part == 0 && nlocals < names.count
					? nlocals
					: names.count;
		for (int64_t i = 0; i < count; i++, slot += 8) {
			uint64_t name, value;
			if (!pf_mem_read_u64(r->mem,
					     names.items + 8u * (uint64_t)i,
					     &name) ||
			    !pf_mem_read_u64(r->mem, slot, &value))
				return true;
			if (part > 0)
				value = deref(r, types, value);
			else if (in_tuple(r, cellvars, name))
				continue;
			if (!add_local(r, types, name, kinds[part], value,
				       budget, f))
				return false;
		}
		if (part == 0)
			slot = frame + (uint64_t)l->locals.localsplus +
			       8u * (uint64_t)nlocals;
	}
	return true;
}

bool pf_read_locals(const struct pf_reader *r,
		    const struct pf_object_types *types, uint64_t frame,
		    uint64_t code, struct pf_locals_budget *budget,
		    struct pf_frame *f)
{
	return r->l->frame_model == PF_FRAMES_INTERPRETER
		       ? fast_locals(r, types, frame, code, budget, f)
		       : object_locals(r, types, frame, code, budget, f);
}

void pf_locals_free(struct pf_frame *f)
{
	for (uint32_t i = 0; i < f->nlocals; i++) {
		pf_text_free(&f->locals[i].name);
		free(f->locals[i].repr);
	}
	free(f->locals);
	f->locals = NULL;
	f->nlocals = 0;
}
