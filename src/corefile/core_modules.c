#include "corefile/core_modules.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf/dw_lib.h"
#include "elf/elf_symbols.h"

/* The core whose modules are being found: dwfl's callbacks get no
 * pointer of their caller's. */
static struct pf_core *reporting;

/* libdwfl names a core's objects by their sonames: the path is that of
 * the file mapped where the object starts. */
static const char *mapped_path(const struct pf_core *core, uint64_t start)
{
	for (size_t i = 0; i < core->maps.count; i++)
		if (core->maps.items[i].start == start)
			return core->maps.items[i].path;
	return NULL;
}

/* The module's file under the sysroot, as named in the core. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
		    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	(void)userdata;
	(void)modname;
	(void)base;
	*elfp = NULL;
	Dwarf_Addr start;
	pf_dw.dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	const char *mapped = reporting ? mapped_path(reporting, start) : NULL;
	if (mapped == NULL)
		return -1;
	char path[4200];
	pf_core_host_path(reporting, mapped, path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		*file_name = strdup(path);
	return fd;
}

static char *debuginfo_path_storage;

/* Set once libdw is loaded. */
static Dwfl_Callbacks callbacks;

Dwfl *pf_core_dwfl(struct pf_core *core, const char *debuginfo_path,
		   struct pf_error *err)
{
	char why[512];
	if (!pf_dw_load(why, sizeof why)) {
		pf_fail_with_fix(err, PF_ERR_INTERNAL, "%s", why);
		return NULL;
	}
	reporting = core;
	debuginfo_path_storage = (char *)debuginfo_path;
	callbacks = (Dwfl_Callbacks){
		.find_elf = find_elf,
		.find_debuginfo = pf_dw.dwfl_standard_find_debuginfo,
		.debuginfo_path = &debuginfo_path_storage,
	};
	Dwfl *dwfl = pf_dw.dwfl_begin(&callbacks);
	if (dwfl == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "libdwfl: %s",
			pf_dw.dwfl_errmsg(-1));
		return NULL;
	}
	char exe[4200];
	pf_core_host_path(core, core->executable, exe, sizeof exe);
	pf_dw.dwfl_report_begin(dwfl);
	int n = pf_dw.dwfl_core_file_report(dwfl, core->elf,
					    core->executable[0] ? exe : NULL);
	if (pf_dw.dwfl_report_end(dwfl, NULL, NULL) != 0 || n < 0) {
		pf_fail(err, PF_ERR_BAD_CORE,
			"%s: libdwfl finds no objects in the core: %s",
			core->name, pf_dw.dwfl_errmsg(-1));
		pf_dw.dwfl_end(dwfl);
		return NULL;
	}
	return dwfl;
}

struct check {
	struct pf_core *core;
	struct pf_error *err;
	enum pf_status status;
};

static void to_hex(const unsigned char *bits, int len, char *hex,
		   size_t size)
{
	hex[0] = '\0';
	for (int i = 0; i < len && (size_t)(2 * i + 2) < size; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
}

static int check_module(Dwfl_Module *mod, void **userdata, const char *soname,
			Dwarf_Addr start, void *arg)
{
	(void)userdata;
	(void)soname;
	struct check *c = arg;
	const unsigned char *bits;
	GElf_Addr vaddr;
	int len = pf_dw.dwfl_module_build_id(mod, &bits, &vaddr);
	const char *name = mapped_path(c->core, start);
	if (len <= 0 || name == NULL)
		return DWARF_CB_OK;
	char path[4200], want[129], got[129];
	pf_core_host_path(c->core, name, path, sizeof path);
	struct pf_elf *elf = pf_elf_open(path);
	if (elf == NULL)
		return DWARF_CB_OK;
	pf_elf_build_id(elf, got, sizeof got);
	pf_elf_close(elf);
	to_hex(bits, len, want, sizeof want);
	if (strcmp(want, got) == 0)
		return DWARF_CB_OK;
	c->status = pf_fail(
		c->err, PF_ERR_WRONG_FILE,
		"%s is not the file the process of the core %s mapped: its "
		"build-id is %s, the core's %s%s",
		path, c->core->name, got[0] ? got : "(none)", want,
		c->core->sysroot ? "" : " (a core from another machine or "
					"container needs --sysroot)");
	return DWARF_CB_ABORT;
}

enum pf_status pf_core_check_build_ids(Dwfl *dwfl, struct pf_core *core,
				       struct pf_error *err)
{
	struct check c = {core, err, PF_OK};
	pf_dw.dwfl_getmodules(dwfl, check_module, &c, 0);
	return c.status;
}
