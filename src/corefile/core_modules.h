/* The ELF objects of a core's process, as libdwfl's core support finds
 * them (dwfl_core_file_report: the link map and the NT_FILE note), with
 * their files read under the sysroot and checked against the build-ids
 * the core holds. */
#ifndef PYFAULT_CORE_MODULES_H
#define PYFAULT_CORE_MODULES_H

#include <elfutils/libdwfl.h>

#include "base/errors.h"
#include "corefile/core_file.h"

/* A Dwfl with core's modules reported; their files are opened under its
 * sysroot.  debuginfo_path: elfutils' search path for separate debug
 * files (NULL: its default).  NULL with err filled on failure.  core must
 * outlive it; one at a time per program (the callbacks find the core
 * through a static). */
Dwfl *pf_core_dwfl(struct pf_core *core, const char *debuginfo_path,
		   struct pf_error *err);

/* Refuses a mapped file of the core whose file under the sysroot has
 * another build-id than the one the core recorded (PF_ERR_WRONG_FILE,
 * naming both); files that are missing are not checked here. */
enum pf_status pf_core_check_build_ids(Dwfl *dwfl, struct pf_core *core,
				       struct pf_error *err);

#endif
