#include "debuginfo.h"

#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* elfutils' default search path, spelled out for messages. */
#define DEFAULT_DEBUGINFO_PATH ":.debug:/usr/lib/debug"

struct pf_debuginfo {
	/* dwfl keeps a pointer to its callbacks and to the search path:
	 * both live as long as the session. */
	Dwfl_Callbacks callbacks;
	char *search_path;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf *dwarf;
	Dwarf_Addr bias;
	const char *path;
	char build_id[2 * 64 + 1];
	char fetched[200];          /* path for a file fetched by debuginfod */
};

static void hex_build_id(struct pf_debuginfo *di)
{
	const unsigned char *bits = NULL;
	GElf_Addr vaddr;
	int len = dwfl_module_build_id(di->mod, &bits, &vaddr);

	di->build_id[0] = '\0';
	if (len <= 0 || (size_t)len * 2 >= sizeof di->build_id)
		return;
	for (int i = 0; i < len; i++)
		snprintf(di->build_id + 2 * i, 3, "%02x", bits[i]);
}

/* Spells out every place elfutils looked, so the user can tell which
 * package or setting is missing rather than only "no DWARF". */
static void fail_not_found(const struct pf_debuginfo *di, const char *elf_path,
			   const char *why, struct pf_error *err)
{
	char by_id[160] = "";
	char by_link[320] = "";
	const char *urls = getenv("DEBUGINFOD_URLS");

	if (di->build_id[0] != '\0')
		snprintf(by_id, sizeof by_id,
			 ", .build-id/%.2s/%s.debug", di->build_id,
			 di->build_id + 2);

	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(di->mod, &bias);
	GElf_Word crc;
	const char *link = elf ? dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
	if (link != NULL)
		snprintf(by_link, sizeof by_link, ", .gnu_debuglink %s",
			 link);

	pf_fail(err, PF_ERR_NO_OFFSETS,
		"no DWARF for %s (build-id %s): %s; looked in the file "
		"itself%s%s along the debuginfo path %s, debuginfod (%s)",
		elf_path, di->build_id[0] ? di->build_id : "none", why,
		by_id, by_link, di->search_path,
		urls != NULL && urls[0] != '\0' ? "DEBUGINFOD_URLS set"
						: "DEBUGINFOD_URLS unset");
}

struct pf_debuginfo *pf_debuginfo_open(const char *elf_path,
				       const char *debuginfo_path,
				       struct pf_error *err)
{
	struct pf_debuginfo *di = calloc(1, sizeof *di);
	if (di != NULL)
		di->search_path = strdup(debuginfo_path ? debuginfo_path
							: DEFAULT_DEBUGINFO_PATH);
	if (di == NULL || di->search_path == NULL) {
		free(di);
		pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	/* The standard search: the file itself, then along the path by
	 * build-id (absolute directories' .build-id/) and by .gnu_debuglink
	 * (next to the file, in relative directories, and under absolute
	 * ones by the file's own directory), then debuginfod. */
	di->callbacks = (Dwfl_Callbacks){
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
		.debuginfo_path = &di->search_path,
	};
	di->dwfl = dwfl_begin(&di->callbacks);
	if (di->dwfl == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "libdwfl: %s", dwfl_errmsg(-1));
		pf_debuginfo_close(di);
		return NULL;
	}

	/* An offline report reads the file as it is on disk; no process is
	 * involved, so this also works for a target we may not ptrace. */
	dwfl_report_begin(di->dwfl);
	const char *base = strrchr(elf_path, '/');
	di->mod = dwfl_report_offline(di->dwfl, base ? base + 1 : elf_path,
				      elf_path, -1);
	if (di->mod == NULL || dwfl_report_end(di->dwfl, NULL, NULL) != 0) {
		pf_fail(err, PF_ERR_NO_OFFSETS, "cannot read ELF file %s: %s",
			elf_path, dwfl_errmsg(-1));
		pf_debuginfo_close(di);
		return NULL;
	}
	hex_build_id(di);

	/* debuginfod last, and only when DEBUGINFOD_URLS is set: libdwfl
	 * then loads libdebuginfod, which fetches by build-id into its own
	 * cache ($DEBUGINFOD_CACHE_PATH, ~/.cache/debuginfod_client). */
	di->dwarf = dwfl_module_getdwarf(di->mod, &di->bias);
	if (di->dwarf == NULL) {
		fail_not_found(di, elf_path, dwfl_errmsg(-1), err);
		pf_debuginfo_close(di);
		return NULL;
	}
	const char *mainfile = NULL, *debugfile = NULL;
	dwfl_module_info(di->mod, NULL, NULL, NULL, NULL, NULL, &mainfile,
			 &debugfile);
	GElf_Addr main_bias;
	if (debugfile == NULL &&
	    dwarf_getelf(di->dwarf) != dwfl_module_getelf(di->mod, &main_bias)) {
		/* libdwfl takes only a descriptor from debuginfod, no name. */
		snprintf(di->fetched, sizeof di->fetched,
			 "debuginfod's file for build-id %s", di->build_id);
		di->path = di->fetched;
	} else {
		di->path = debugfile ? debugfile : mainfile ? mainfile
							    : elf_path;
	}
	return di;
}

Dwarf *pf_debuginfo_dwarf(struct pf_debuginfo *di, Dwarf_Addr *bias)
{
	if (bias != NULL)
		*bias = di->bias;
	return di->dwarf;
}

const char *pf_debuginfo_path(const struct pf_debuginfo *di)
{
	return di->path;
}

const char *pf_debuginfo_build_id(const struct pf_debuginfo *di)
{
	return di->build_id;
}

void pf_debuginfo_close(struct pf_debuginfo *di)
{
	if (di == NULL)
		return;
	if (di->dwfl != NULL)
		dwfl_end(di->dwfl);
	free(di->search_path);
	free(di);
}
