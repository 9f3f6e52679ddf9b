#include "layout/layout_tables.h"

#include <stdio.h>

/* Defines pf_layout_table[] and pf_asyncio_table[]; generated, see contrib/gen-layout-tables. */
#include "layout/layout_tables.inc"

const struct pf_layout_table_row *pf_layout_table_rows(size_t *count)
{
	*count = sizeof pf_layout_table / sizeof pf_layout_table[0];
	return pf_layout_table;
}

const struct pf_asyncio_table_row *pf_asyncio_table_rows(size_t *count)
{
	*count = sizeof pf_asyncio_table / sizeof pf_asyncio_table[0];
	return pf_asyncio_table;
}

void pf_layout_apply_row(struct pf_layout *layout,
			 const struct pf_layout_table_row *row)
{
#define COPY_(group, field) layout->group.field = row->group##_##field;
	PF_LAYOUT_OFFSET_FIELDS(COPY_)
	PF_LAYOUT_SHIFT_FIELDS(COPY_)
#undef COPY_
}

enum pf_status pf_layout_from_table(struct pf_layout *layout,
				    struct pf_error *err)
{
	size_t count;
	const struct pf_layout_table_row *rows = pf_layout_table_rows(&count);

	for (size_t i = 0; i < count; i++) {
		if (rows[i].major != layout->major ||
		    rows[i].minor != layout->minor)
			continue;
		pf_layout_apply_row(layout, &rows[i]);
		layout->source = PF_SOURCE_TABLE;
		snprintf(layout->source_detail, sizeof layout->source_detail,
			 "%s", rows[i].provenance);
		return PF_OK;
	}
	return pf_fail(err, PF_ERR_NO_OFFSETS,
		       "pyfault has no built-in offsets for Python %u.%u",
		       layout->major, layout->minor);
}
