/* Offsets shipped with pyfault for interpreters whose DWARF is not installed
 * (e.g. Debian's stripped python3 without python3.X-dbg).  The rows are
 * generated from real builds' DWARF by contrib/gen-layout-tables. */
#ifndef PYFAULT_LAYOUT_TABLES_H
#define PYFAULT_LAYOUT_TABLES_H

#include <stddef.h>
#include <stdint.h>

#include "base/errors.h"
#include "layout/py_layout.h"

struct pf_layout_table_row {
	unsigned major, minor;
	const char *provenance;  /* which build the offsets were read from */
#define PF_ROW_OFFSET_FIELD_(group, field) int64_t group##_##field;
	PF_LAYOUT_OFFSET_FIELDS(PF_ROW_OFFSET_FIELD_)
#undef PF_ROW_OFFSET_FIELD_
#define PF_ROW_SHIFT_FIELD_(group, field) unsigned group##_##field;
	PF_LAYOUT_SHIFT_FIELDS(PF_ROW_SHIFT_FIELD_)
#undef PF_ROW_SHIFT_FIELD_
};

/* Fills the offsets for layout->major/minor (already set by
 * pf_layout_init_version) from the shipped table; sets source =
 * PF_SOURCE_TABLE and source_detail = the row's provenance.  Fails with
 * PF_ERR_NO_OFFSETS when no row matches. */
enum pf_status pf_layout_from_table(struct pf_layout *layout,
				    struct pf_error *err);

/* The whole table, for tests and diagnostics. */
const struct pf_layout_table_row *pf_layout_table_rows(size_t *count);

/* Copies a row's offsets and shifts into layout (nothing else). */
void pf_layout_apply_row(struct pf_layout *layout,
			 const struct pf_layout_table_row *row);

/* TaskObj of the _asyncio extension of one Python 3.11-3.13, for builds
 * whose own DWARF is absent (struct pf_asyncio_layout's ctask). */
struct pf_asyncio_table_row {
	unsigned major, minor;
	const char *provenance;
	int64_t size, loop, state, fut_waiter, coro, name;
};

const struct pf_asyncio_table_row *pf_asyncio_table_rows(size_t *count);

#endif
