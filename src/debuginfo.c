#include "debuginfo.h"

#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct pf_debuginfo {
	Dwfl *dwfl;
	Dwfl_Module *mod;
	Dwarf *dwarf;
	Dwarf_Addr bias;
	/* Set when we opened the DWARF file ourselves (open_lean); otherwise
	 * the Dwarf belongs to dwfl. */
	Elf *own_elf;
	int own_fd;
	char *own_path;
	const char *path;
	char build_id[2 * 64 + 1];
};

/* dwfl keeps a pointer to its callbacks: static const storage outlives every
 * session without being mutable state.  debuginfo_path NULL means elfutils'
 * default ":.debug:/usr/lib/debug", i.e. next to the file, in its .debug/
 * subdirectory and under /usr/lib/debug (also by build-id). */
static const Dwfl_Callbacks offline_callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = NULL,
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

static const char *section_name(Elf *elf, size_t shstrndx, Elf_Scn *scn,
				GElf_Shdr *shdr)
{
	if (gelf_getshdr(scn, shdr) == NULL)
		return NULL;
	return elf_strptr(elf, shstrndx, shdr->sh_name);
}

/* Whether elf itself carries type information (not only, say, the
 * .debug_frame that some stripped files keep). */
static bool has_debug_info(Elf *elf)
{
	size_t shstrndx;
	if (elf == NULL || elf_getshdrstrndx(elf, &shstrndx) != 0)
		return false;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
		GElf_Shdr shdr;
		const char *name = section_name(elf, shstrndx, scn, &shdr);
		if (name != NULL && shdr.sh_type != SHT_NOBITS &&
		    (strcmp(name, ".debug_info") == 0 ||
		     strcmp(name, ".zdebug_info") == 0))
			return true;
	}
	return false;
}

/* libdw 0.188 inflates every compressed .debug_* section as soon as it opens
 * a file, and Debian's debug files compress them all: for python3.11 that is
 * ~22 MB and ~90 ms, of which line tables and location lists are half.
 * Reading types needs only the sections kept here; the others are marked
 * SHT_NOBITS, which dwarf_begin_elf skips.  The change is made to libelf's
 * view of our private copy-on-write mapping, never to the file. */
static void hide_unneeded_sections(Elf *elf)
{
	static const char *const keep[] = {
		"info", "abbrev", "str", "line_str", "str_offsets", "types",
		"addr",
	};
	size_t shstrndx;
	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn)) != NULL;) {
		GElf_Shdr shdr;
		const char *name = section_name(elf, shstrndx, scn, &shdr);
		const char *base;
		if (name == NULL)
			continue;
		if (strncmp(name, ".debug_", 7) == 0)
			base = name + 7;
		else if (strncmp(name, ".zdebug_", 8) == 0)
			base = name + 8;
		else
			continue;
		/* Uncompressed sections are only mapped, which is free. */
		if ((shdr.sh_flags & SHF_COMPRESSED) == 0 && name[1] != 'z')
			continue;
		bool needed = false;
		for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
			needed |= strcmp(base, keep[i]) == 0;
		if (!needed) {
			shdr.sh_type = SHT_NOBITS;
			gelf_update_shdr(scn, &shdr);
		}
	}
}

static void drop_lean(struct pf_debuginfo *di)
{
	if (di->own_elf != NULL && di->dwarf != NULL) {
		dwarf_end(di->dwarf);
		di->dwarf = NULL;
	}
	if (di->own_elf != NULL)
		elf_end(di->own_elf);
	di->own_elf = NULL;
	if (di->own_fd >= 0)
		close(di->own_fd);
	di->own_fd = -1;
	free(di->own_path);
	di->own_path = NULL;
}

/* Opens path as the DWARF file: it must carry .debug_info and, unless it is
 * the ELF itself, the ELF's build-id (the check libdwfl makes too).  On
 * failure nothing is kept. */
static bool open_lean(struct pf_debuginfo *di, const char *path,
		      bool check_build_id)
{
	di->own_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (di->own_fd < 0)
		return false;
	di->own_elf = elf_begin(di->own_fd, ELF_C_READ_MMAP_PRIVATE, NULL);
	if (di->own_elf == NULL || !has_debug_info(di->own_elf))
		goto fail;
	if (check_build_id) {
		const unsigned char *want = NULL;
		const void *have = NULL;
		GElf_Addr vaddr;
		int want_len = dwfl_module_build_id(di->mod, &want, &vaddr);
		ssize_t have_len = dwelf_elf_gnu_build_id(di->own_elf, &have);
		if (want_len <= 0 || have_len != want_len ||
		    memcmp(want, have, (size_t)want_len) != 0)
			goto fail;
	}
	hide_unneeded_sections(di->own_elf);
	di->dwarf = dwarf_begin_elf(di->own_elf, DWARF_C_READ, NULL);
	if (di->dwarf == NULL)
		goto fail;
	/* A dwz alternate file that libdw cannot find by itself is left to
	 * dwfl, whose callbacks (and debuginfod) know more places. */
	const char *altname;
	const void *alt_id;
	if (dwelf_dwarf_gnu_debugaltlink(di->dwarf, &altname, &alt_id) > 0 &&
	    dwarf_getalt(di->dwarf) == NULL)
		goto fail;
	di->own_path = strdup(path);
	if (di->own_path == NULL)
		goto fail;
	di->path = di->own_path;
	return true;
fail:
	drop_lean(di);
	return false;
}

/* The places dwfl_standard_find_debuginfo tries first, with its default
 * path ":.debug:/usr/lib/debug": the ELF itself, the build-id file, then the
 * .gnu_debuglink name next to the ELF, in its .debug/ and under
 * /usr/lib/debug.  (Calling that function directly is not an option: it
 * hands the debug Elf to the module behind dwfl's back.)  Anything else --
 * no build-id, debuginfod, an unusual layout -- is left to
 * dwfl_module_getdwarf. */
static bool open_lean_standard(struct pf_debuginfo *di, const char *elf_path)
{
	GElf_Addr bias;
	Elf *main_elf = dwfl_module_getelf(di->mod, &bias);
	if (main_elf == NULL)
		return false;
	di->bias = bias;
	if (has_debug_info(main_elf))
		return open_lean(di, elf_path, false);
	if (di->build_id[0] == '\0')
		return false;

	char path[PATH_MAX + 64];
	snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%.2s/%s.debug",
		 di->build_id, di->build_id + 2);
	if (open_lean(di, path, true))
		return true;

	GElf_Word crc;
	const char *link = dwelf_elf_gnu_debuglink(main_elf, &crc);
	char *dir = link ? realpath(elf_path, NULL) : NULL;
	char *slash = dir ? strrchr(dir, '/') : NULL;
	bool found = false;
	if (slash != NULL && strchr(link, '/') == NULL) {
		*slash = '\0';
		for (int i = 0; !found && i < 3; i++) {
			int n = i == 0 ? snprintf(path, sizeof path, "%s/%s",
						  dir, link)
			      : i == 1 ? snprintf(path, sizeof path,
						  "%s/.debug/%s", dir, link)
				       : snprintf(path, sizeof path,
						  "/usr/lib/debug%s/%s", dir,
						  link);
			found = n > 0 && (size_t)n < sizeof path &&
				open_lean(di, path, true);
		}
	}
	free(dir);
	return found;
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
	di->own_fd = -1;
	di->dwfl = dwfl_begin(&offline_callbacks);
	if (di->dwfl == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "libdwfl: %s", dwfl_errmsg(-1));
		free(di);
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

	if (open_lean_standard(di, elf_path))
		return di;

	/* Anything unusual: let libdwfl do all of it. */
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
	drop_lean(di);
	if (di->dwfl != NULL)
		dwfl_end(di->dwfl);
	free(di);
}
