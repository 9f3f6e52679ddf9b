#include "layout/await_layout.h"

#include <stdio.h>
#include <string.h>

#include "layout/layout_dwarf.h"

/* The first reason an offset is unknown. */
static void why_not(char *note, size_t size, const char *what,
		    const struct pf_error *err)
{
	if (note[0] == '\0')
		snprintf(note, size, "%s are not followed: %s", what,
			 err->message);
}

/* The members of one unit, through t's offset cache, each a pointer inside
 * its struct (from the cache as from DWARF); one that is not is left
 * PF_NO_OFFSET.  where gets the file they came from. */
static enum pf_status read_pointers(struct pf_target *t, const char *path,
				    const char *build_id, const char *kind,
				    const char *unit,
				    struct pf_dwarf_member *m, size_t n,
				    char *where, size_t where_size,
				    struct pf_error *err)
{
	enum pf_status st = pf_target_unit_members(
		t, path, build_id, kind, unit, m, n, where, where_size, err);
	for (size_t i = 0; st == PF_OK && i < n; i++)
		if (m[i].offset != PF_NO_OFFSET &&
		    pf_dwarf_member_check(&m[i], 8, where, err) != PF_OK)
			m[i].offset = PF_NO_OFFSET;
	return st;
}

void pf_await_layout_find(struct pf_target *t, const char *asyncio_path,
			  const char *asyncio_build_id,
			  struct pf_await_layout *out, char *detail,
			  size_t detail_size, char *note, size_t note_size)
{
	struct pf_dwarf_member gen[] = {
		{"PyAsyncGenASend", "ags_gen", true, PF_NO_OFFSET, 0, 0},
		{"PyAsyncGenAThrow", "agt_gen", true, PF_NO_OFFSET, 0, 0},
		{"PyCoroWrapper", "cw_coroutine", true, PF_NO_OFFSET, 0, 0},
	};
	struct pf_dwarf_member future[] = {
		{"futureiterobject", "future", true, PF_NO_OFFSET, 0, 0},
	};
	struct pf_error err = {0};
	note[0] = detail[0] = '\0';
	/* Only DWARF has them: --offsets without it leaves them out. */
	if (!(t->sources & PF_SOURCE_BIT(PF_SOURCE_DWARF))) {
		pf_fail(&err, PF_ERR_NO_OFFSETS, "DWARF not allowed");
		why_not(note, note_size,
			"async generators, coroutine wrappers and awaited "
			"futures in await chains",
			&err);
		*out = PF_AWAIT_LAYOUT_NONE;
		return;
	}
	char where[300];
	if (read_pointers(t, t->file.read_path, t->build_id, "genobject",
			  "Objects/genobject.c", gen, 3, where, sizeof where,
			  &err) == PF_OK)
		snprintf(detail, detail_size,
			 "async generators and coroutine wrappers from %s",
			 where);
	if (err.status != PF_OK)
		why_not(note, note_size,
			"async generators and coroutine wrappers in await "
			"chains",
			&err);
	err = (struct pf_error){0};
	if (asyncio_path != NULL &&
	    read_pointers(t, asyncio_path, asyncio_build_id, "futureiter",
			  "_asynciomodule.c", future, 1, where, sizeof where,
			  &err) == PF_OK) {
		size_t used = strlen(detail);
		snprintf(detail + used, detail_size - used,
			 "%sawaited futures from %s", used ? "; " : "", where);
	}
	if (err.status != PF_OK)
		why_not(note, note_size, "awaited futures", &err);
	out->asend_gen = gen[0].offset;
	out->athrow_gen = gen[1].offset;
	out->wrapper_coro = gen[2].offset;
	out->futureiter_future = future[0].offset;
}
