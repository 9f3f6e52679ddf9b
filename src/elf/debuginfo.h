/* Locating the DWARF of an ELF file the way elfutils' own tools do: in the
 * file itself, by build-id under /usr/lib/debug/.build-id, via
 * .gnu_debuglink, and through debuginfod when the user configured it
 * (DEBUGINFOD_URLS: libdwfl then loads libdebuginfod itself). */
#ifndef PYFAULT_DEBUGINFO_H
#define PYFAULT_DEBUGINFO_H

#include <elfutils/libdw.h>

#include "base/errors.h"

/* Owns the libdwfl session; the Dwarf handle lives as long as it does. */
struct pf_debuginfo;

/* Opens the DWARF for elf_path.  A path under /proc/PID/root or
 * /proc/PID/map_files is a file of that process, reported under the name
 * it has there, whose debug files are looked for under its root first.
 * debuginfo_path is elfutils' search path (eu-stack's --debuginfo-path:
 * directories separated by ':', absolute ones searched by build-id and by
 * .gnu_debuglink, relative ones next to the file); NULL means elfutils'
 * default ":.debug:/usr/lib/debug".  Returns NULL (and fills err with
 * PF_ERR_NO_OFFSETS and a message naming the file and what was tried) when
 * none is found. */
struct pf_debuginfo *pf_debuginfo_open(const char *elf_path,
				       const char *debuginfo_path,
				       struct pf_error *err);

/* The DWARF; *bias (if bias is not NULL) receives the address bias, which
 * is 0 for an offline report of an unrelocated file. */
Dwarf *pf_debuginfo_dwarf(struct pf_debuginfo *di, Dwarf_Addr *bias);

/* The file the DWARF came from: the ELF itself or the separate debug file. */
const char *pf_debuginfo_path(const struct pf_debuginfo *di);

/* The ELF's GNU build-id as lowercase hex, or "" when it has none. */
const char *pf_debuginfo_build_id(const struct pf_debuginfo *di);

void pf_debuginfo_close(struct pf_debuginfo *di);

#endif
