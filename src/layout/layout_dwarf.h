/* Reading a CPython build's structure offsets from its DWARF. */
#ifndef PYFAULT_LAYOUT_DWARF_H
#define PYFAULT_LAYOUT_DWARF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/errors.h"
#include "layout/py_layout.h"

/* Fills the offsets of layout (whose major/minor/models were already set by
 * pf_layout_init_version) from the DWARF of elf_path, looked for along
 * debuginfo_path (see pf_debuginfo_open; NULL for elfutils' default); sets layout->source =
 * PF_SOURCE_DWARF and source_detail = the debug file path.  Fields that this
 * version's structs lack keep their value (PF_NO_OFFSET).  Also replaces
 * unicode.kind_shift/compact_shift/ascii_shift with the bit positions DWARF
 * gives for PyASCIIObject.state.  On failure (PF_ERR_NO_OFFSETS: no DWARF,
 * a struct or a needed field missing) layout is left unchanged. */
enum pf_status pf_layout_from_dwarf(struct pf_layout *layout,
				    const char *elf_path,
				    const char *debuginfo_path,
				    struct pf_error *err);

/* One member of a struct defined in a source file of the build. */
struct pf_dwarf_member {
	const char *type_name;    /* typedef or struct tag */
	const char *member;
	bool pointer;             /* whether it must be a pointer (or must
				     not): what is read there is one */
	int64_t offset;           /* out: PF_NO_OFFSET when not found */
	int64_t width;            /* out: its size in bytes */
	int64_t struct_size;      /* out: the struct's size */
};

/* The offsets of members[0..n) in the structs that the compile unit of
 * elf_path's DWARF whose name ends with unit_suffix ("Objects/genobject.c")
 * defines: the structs private to one source file, which neither
 * _Py_DebugOffsets nor the layout tables hold (asend and athrow objects,
 * FutureIter, 3.11-3.13's TaskObj).  Only that unit is read.  where (when
 * not NULL) gets the file the DWARF came from.  PF_ERR_NO_OFFSETS when
 * there is no DWARF or no such unit; a member not found is left
 * PF_NO_OFFSET. */
enum pf_status pf_dwarf_unit_members(const char *elf_path,
				     const char *debuginfo_path,
				     const char *unit_suffix,
				     struct pf_dwarf_member *members, size_t n,
				     char *where, size_t where_size,
				     struct pf_error *err);

/* Whether the found member m is width bytes wide and lies inside its
 * struct, as the reader of the struct's bytes takes it on trust;
 * PF_ERR_NO_OFFSETS saying so (where: the file it came from) if not. */
enum pf_status pf_dwarf_member_check(const struct pf_dwarf_member *m,
				     int64_t width, const char *where,
				     struct pf_error *err);

#endif
