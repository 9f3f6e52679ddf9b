#include "elf/debuginfo.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf/dw_lib.h"
#include "elf/elf_lib.h"
#include "process/proc_maps.h"

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
	/* The separate debug file libdwfl's search found, opened here. */
	int debug_fd;
	char *debug_name;           /* NULL for one fetched by debuginfod */
	Elf *debug_elf;
	Dwarf *own_dwarf;           /* dwarf when it is read from debug_elf */
	char fetched[200];          /* path for a file fetched by debuginfod */
};

/* Sections of a debug file the struct layouts never need: made NOBITS in
 * a private copy of the section headers, libdw leaves them alone (and
 * compressed).  .debug_info, .debug_abbrev and the string sections stay. */
static bool unneeded_section(const char *name)
{
	static const char *const unneeded[] = {
		"line", "loc", "loclists", "ranges", "rnglists", "aranges",
		"frame", "macro", "macinfo", "pubnames", "pubtypes", "names",
		"gnu_pubnames", "gnu_pubtypes",
	};
	if (strncmp(name, ".debug_", 7) == 0)
		name += 7;
	else if (strncmp(name, ".zdebug_", 8) == 0)
		name += 8;
	else
		return false;
	for (size_t i = 0; i < sizeof unneeded / sizeof *unneeded; i++)
		if (strcmp(name, unneeded[i]) == 0)
			return true;
	return false;
}

static Dwarf *open_debug_file(struct pf_debuginfo *di)
{
	di->debug_elf = pf_libelf.elf_begin(di->debug_fd,
					    ELF_C_READ_MMAP_PRIVATE, NULL);
	size_t shstrndx;
	if (di->debug_elf == NULL ||
	    pf_libelf.elf_getshdrstrndx(di->debug_elf, &shstrndx) != 0)
		return NULL;
	Elf_Scn *scn = NULL;
	while ((scn = pf_libelf.elf_nextscn(di->debug_elf, scn)) != NULL) {
		GElf_Shdr shdr;
		const char *name;
		if (pf_libelf.gelf_getshdr(scn, &shdr) == NULL ||
		    (name = pf_libelf.elf_strptr(di->debug_elf, shstrndx,
						 shdr.sh_name)) == NULL ||
		    !unneeded_section(name))
			continue;
		shdr.sh_type = SHT_NOBITS;
		pf_libelf.gelf_update_shdr(scn, &shdr);
	}
	di->own_dwarf = pf_dw.dwarf_begin_elf(di->debug_elf, DWARF_C_READ, NULL);
	return di->own_dwarf;
}

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

static void hex_build_id(struct pf_debuginfo *di)
{
	const unsigned char *bits = NULL;
	GElf_Addr vaddr;
	int len = pf_dw.dwfl_module_build_id(di->mod, &bits, &vaddr);

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
	Elf *elf = pf_dw.dwfl_module_getelf(di->mod, &bias);
	GElf_Word crc;
	const char *link = elf ? pf_dw.dwelf_elf_gnu_debuglink(elf, &crc) : NULL;
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
	/* A file of another root is reported under the name it has there,
	 * so that its .gnu_debuglink is looked for next to it and under
	 * /usr/lib/debug in that root first (root as a debug directory means
	 * "the file's own directory under root"), then along our path, where
	 * a debug file is accepted only if its build-id (or CRC) matches. */
	char name[4096], root[64], why[512];
	if (!pf_dw_load(why, sizeof why)) {
		pf_fail_with_fix(err, PF_ERR_NO_OFFSETS, "%s", why);
		return NULL;
	}
	bool other_view = in_target_view(elf_path, name, sizeof name, root,
					 sizeof root);
	const char *path = debuginfo_path ? debuginfo_path
					  : DEFAULT_DEBUGINFO_PATH;
	size_t path_size = strlen(path) + 2 * sizeof root + 32;
	struct pf_debuginfo *di = calloc(1, sizeof *di);
	if (di != NULL) {
		di->debug_fd = -1;
		di->search_path = malloc(path_size);
	}
	if (di == NULL || di->search_path == NULL) {
		free(di);
		pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (other_view)
		snprintf(di->search_path, path_size, "%s:%s/usr/lib/debug:%s",
			 root, root, path);
	else
		snprintf(di->search_path, path_size, "%s", path);
	/* The standard search: the file itself, then along the path by
	 * build-id (absolute directories' .build-id/) and by .gnu_debuglink
	 * (next to the file, in relative directories, and under absolute
	 * ones by the file's own directory), then debuginfod. */
	di->callbacks = (Dwfl_Callbacks){
		.find_elf = pf_dw.dwfl_build_id_find_elf,
		.find_debuginfo = pf_dw.dwfl_standard_find_debuginfo,
		.section_address = pf_dw.dwfl_offline_section_address,
		.debuginfo_path = &di->search_path,
	};
	di->dwfl = pf_dw.dwfl_begin(&di->callbacks);
	if (di->dwfl == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "libdwfl: %s",
			pf_dw.dwfl_errmsg(-1));
		pf_debuginfo_close(di);
		return NULL;
	}

	/* An offline report reads the file as it is on disk; no process is
	 * involved, so this also works for a target we may not ptrace. */
	const char *file_name = other_view ? name : elf_path;
	const char *file_base = strrchr(file_name, '/');
	int fd = open(elf_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pf_fail(err, PF_ERR_NO_OFFSETS, "cannot open %s: %s", elf_path,
			strerror(errno));
		pf_debuginfo_close(di);
		return NULL;
	}
	pf_dw.dwfl_report_begin(di->dwfl);
	/* Takes fd over. */
	di->mod = pf_dw.dwfl_report_offline(
		di->dwfl, file_base ? file_base + 1 : file_name, file_name, fd);
	if (di->mod == NULL ||
	    pf_dw.dwfl_report_end(di->dwfl, NULL, NULL) != 0) {
		pf_fail(err, PF_ERR_NO_OFFSETS, "cannot read ELF file %s: %s",
			elf_path, pf_dw.dwfl_errmsg(-1));
		pf_debuginfo_close(di);
		return NULL;
	}
	hex_build_id(di);

	/* The file's own DWARF: libdwfl reads it as it is. */
	GElf_Addr bias;
	Elf *main_elf = pf_dw.dwfl_module_getelf(di->mod, &bias);
	Dwarf *own = main_elf ? pf_dw.dwarf_begin_elf(main_elf, DWARF_C_READ,
						      NULL)
			      : NULL;
	if (own != NULL) {
		pf_dw.dwarf_end(own);
		di->dwarf = pf_dw.dwfl_module_getdwarf(di->mod, &di->bias);
		di->path = elf_path;
		if (di->dwarf != NULL)
			return di;
	}

	/* A separate file: libdwfl's standard search finds it, by build-id
	 * and .gnu_debuglink along the path, then through debuginfod, only
	 * when DEBUGINFOD_URLS is set (libdwfl then loads libdebuginfod,
	 * which fetches by build-id into its own cache,
	 * $DEBUGINFOD_CACHE_PATH or ~/.cache/debuginfod_client).  It is
	 * opened here rather than by libdwfl's getdwarf, which would have
	 * libdw inflate every compressed .debug_* section of it. */
	const char *modname = NULL, *mainfile = NULL;
	Dwarf_Addr base = 0;
	void **userdata = NULL;
	modname = pf_dw.dwfl_module_info(di->mod, &userdata, &base, NULL, NULL,
					 NULL, &mainfile, NULL);
	GElf_Word crc = 0;
	const char *link =
		main_elf ? pf_dw.dwelf_elf_gnu_debuglink(main_elf, &crc) : NULL;
	di->debug_fd = pf_dw.dwfl_standard_find_debuginfo(
		di->mod, userdata, modname, base, mainfile ? mainfile : elf_path,
		link, crc, &di->debug_name);
	if (di->debug_fd < 0) {
		fail_not_found(di, elf_path, "No DWARF information found",
			       err);
		pf_debuginfo_close(di);
		return NULL;
	}
	di->dwarf = open_debug_file(di);
	if (di->dwarf == NULL) {
		pf_fail(err, PF_ERR_NO_OFFSETS, "cannot read the DWARF of %s: %s",
			di->debug_name ? di->debug_name : elf_path,
			pf_dw.dwarf_errmsg(-1));
		pf_debuginfo_close(di);
		return NULL;
	}
	di->bias = 0;
	/* debuginfod gives only a descriptor, no name. */
	snprintf(di->fetched, sizeof di->fetched,
		 "debuginfod's file for build-id %s", di->build_id);
	di->path = di->debug_name ? di->debug_name : di->fetched;
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
	if (di->own_dwarf != NULL)
		pf_dw.dwarf_end(di->own_dwarf);
	if (di->debug_elf != NULL)
		pf_libelf.elf_end(di->debug_elf);
	if (di->debug_fd >= 0)
		close(di->debug_fd);
	free(di->debug_name);
	if (di->dwfl != NULL)
		pf_dw.dwfl_end(di->dwfl);
	free(di->search_path);
	free(di);
}
