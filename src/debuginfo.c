#include "debuginfo.h"

#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc_maps.h"

struct pf_debuginfo {
	/* Per session: the debug directories depend on the target's root. */
	Dwfl_Callbacks callbacks;
	char debug_dirs[256];
	char *debuginfo_path;     /* debug_dirs, as Dwfl_Callbacks wants it */
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf *dwarf;
	Dwarf_Addr bias;
	const char *path;
	char build_id[2 * 64 + 1];
};

/* elfutils' default ":.debug:/usr/lib/debug": next to the file, in its
 * .debug/ subdirectory and under /usr/lib/debug (also by build-id). */
#define DEFAULT_DEBUG_DIRS ":.debug:/usr/lib/debug"

/* A file of another process's view, read under /proc/PID/root or through
 * /proc/PID/map_files: *name receives the path the process gives it and
 * *root that process's root. */
static bool in_target_view(const char *elf_path, char *name, size_t name_size,
			   char *root, size_t root_size)
{
	int pid, end = 0;
	if (sscanf(elf_path, "/proc/%d/root%n", &pid, &end) == 1 && end > 0 &&
	    elf_path[end] == '/') {
		snprintf(name, name_size, "%s", elf_path + end);
	} else if (sscanf(elf_path, "/proc/%d/map_files/%n", &pid, &end) ==
			   1 &&
		   end > 0) {
		ssize_t n = readlink(elf_path, name, name_size - 1);
		if (n <= 0)
			return false;
		name[n] = '\0';
		pf_maps_strip_deleted(name);
	} else {
		return false;
	}
	snprintf(root, root_size, "/proc/%d/root", pid);
	return true;
}

/* The file is reported under the name its process gives it, so that its
 * .gnu_debuglink is looked for next to it and under /usr/lib/debug in that
 * process's root first (root as a debug directory means "the file's own
 * directory under root"), then in ours, where a debug file is accepted
 * only if its build-id (or CRC) matches. */
static bool report_file(struct pf_debuginfo *di, const char *elf_path,
			struct pf_error *err)
{
	char name[4096], root[64];
	bool other_view = in_target_view(elf_path, name, sizeof name, root,
					 sizeof root);
	if (other_view)
		snprintf(di->debug_dirs, sizeof di->debug_dirs,
			 "%s:%s/usr/lib/debug:%s", root, root,
			 DEFAULT_DEBUG_DIRS);
	else
		snprintf(di->debug_dirs, sizeof di->debug_dirs, "%s",
			 DEFAULT_DEBUG_DIRS);
	di->debuginfo_path = di->debug_dirs;
	di->callbacks = (Dwfl_Callbacks){
		.find_elf = dwfl_build_id_find_elf,
		.find_debuginfo = dwfl_standard_find_debuginfo,
		.section_address = dwfl_offline_section_address,
		.debuginfo_path = &di->debuginfo_path,
	};
	di->dwfl = dwfl_begin(&di->callbacks);
	if (di->dwfl == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "libdwfl: %s", dwfl_errmsg(-1));
		return false;
	}

	/* An offline report reads the file as it is on disk; no process is
	 * involved, so this also works for a target we may not ptrace. */
	const char *file_name = other_view ? name : elf_path;
	const char *base = strrchr(file_name, '/');
	int fd = open(elf_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pf_fail(err, PF_ERR_NO_OFFSETS, "cannot open %s: %s", elf_path,
			strerror(errno));
		return false;
	}
	dwfl_report_begin(di->dwfl);
	/* Takes fd over. */
	di->mod = dwfl_report_offline(di->dwfl, base ? base + 1 : file_name,
				      file_name, fd);
	if (di->mod == NULL || dwfl_report_end(di->dwfl, NULL, NULL) != 0) {
		pf_fail(err, PF_ERR_NO_OFFSETS, "cannot read ELF file %s: %s",
			elf_path, dwfl_errmsg(-1));
		return false;
	}
	return true;
}

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
			 ", /usr/lib/debug/.build-id/%.2s/%s.debug",
			 di->build_id, di->build_id + 2);

	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(di->mod, &bias);
	GElf_Word crc;
	const char *link = elf ? dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
	if (link != NULL)
		snprintf(by_link, sizeof by_link,
			 ", .gnu_debuglink %s next to it, in .debug/ and "
			 "under /usr/lib/debug", link);

	pf_fail(err, PF_ERR_NO_OFFSETS,
		"no DWARF for %s (build-id %s): %s; looked in the file "
		"itself%s%s, debuginfod (%s)",
		elf_path, di->build_id[0] ? di->build_id : "none", why,
		by_id, by_link,
		urls != NULL && urls[0] != '\0' ? "DEBUGINFOD_URLS set"
						: "DEBUGINFOD_URLS unset");
}

struct pf_debuginfo *pf_debuginfo_open(const char *elf_path,
				       struct pf_error *err)
{
	struct pf_debuginfo *di = calloc(1, sizeof *di);
	if (di == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (!report_file(di, elf_path, err)) {
		pf_debuginfo_close(di);
		return NULL;
	}
	hex_build_id(di);

	/* libdwfl looks where elfutils always does: the file itself, the
	 * build-id file, .gnu_debuglink next to the file, in .debug/ and under
	 * /usr/lib/debug, then debuginfod when DEBUGINFOD_URLS is set. */
	di->dwarf = dwfl_module_getdwarf(di->mod, &di->bias);
	if (di->dwarf == NULL) {
		fail_not_found(di, elf_path, dwfl_errmsg(-1), err);
		pf_debuginfo_close(di);
		return NULL;
	}
	const char *mainfile = NULL, *debugfile = NULL;
	dwfl_module_info(di->mod, NULL, NULL, NULL, NULL, NULL, &mainfile,
			 &debugfile);
	di->path = debugfile ? debugfile : mainfile ? mainfile : elf_path;
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
	free(di);
}
