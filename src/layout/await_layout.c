#include "layout/await_layout.h"

#include <stdio.h>

#include "layout/layout_dwarf.h"

/* The first reason an offset is unknown. */
static void why_not(char *note, size_t size, const char *what,
		    const struct pf_error *err)
{
	if (note != NULL && note[0] == '\0')
		snprintf(note, size, "%s are not followed: %s", what,
			 err->message);
}

void pf_await_layout_find(const struct pf_target *t, const char *asyncio_path,
			  struct pf_await_layout *out, char *note,
			  size_t note_size)
{
	struct pf_dwarf_member gen[] = {
		{"PyAsyncGenASend", "ags_gen", true, PF_NO_OFFSET, 0, 0},
		{"PyAsyncGenAThrow", "agt_gen", true, PF_NO_OFFSET, 0, 0},
	};
	struct pf_dwarf_member future[] = {
		{"futureiterobject", "future", true, PF_NO_OFFSET, 0, 0},
	};
	struct pf_error err = {PF_OK, ""};
	if (note != NULL && note_size > 0)
		note[0] = '\0';
	/* Only DWARF has them: --offsets without it leaves them out. */
	if (!(t->sources & PF_SOURCE_BIT(PF_SOURCE_DWARF))) {
		pf_fail(&err, PF_ERR_NO_OFFSETS, "DWARF not allowed");
		why_not(note, note_size,
			"async generators and awaited futures in await chains",
			&err);
		*out = (struct pf_await_layout){PF_NO_OFFSET, PF_NO_OFFSET,
						PF_NO_OFFSET};
		return;
	}
	if (pf_dwarf_unit_members(t->file.read_path, t->debuginfo_path,
				  "Objects/genobject.c", gen, 2, NULL, 0,
				  &err) != PF_OK)
		why_not(note, note_size, "async generators in await chains",
			&err);
	err = (struct pf_error){PF_OK, ""};
	if (asyncio_path != NULL &&
	    pf_dwarf_unit_members(asyncio_path, t->debuginfo_path,
				  "_asynciomodule.c", future, 1, NULL, 0,
				  &err) != PF_OK)
		why_not(note, note_size, "awaited futures", &err);
	out->asend_gen = gen[0].offset;
	out->athrow_gen = gen[1].offset;
	out->futureiter_future = future[0].offset;
}
