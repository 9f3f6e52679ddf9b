#include "elf/elf_lib.h"

#include <dlfcn.h>

#include "base/lib_load.h"

struct pf_elf_lib pf_libelf;

bool pf_libelf_load(char *why, size_t size)
{
	static bool loaded;
	/* libelf's soname: the ABI that pkg-config's libelf names. */
	static const struct pf_lib_desc libelf = {
		"libelf.so.1", "libelf1", "elfutils 0.171 or later"};
	static const char *const names[] = {PF_ELF_FUNCTIONS(PF_LIB_NAME)};
	void *syms[sizeof names / sizeof names[0]];
	if (loaded ||
	    !pf_lib_load("libelf.so.1", RTLD_LAZY | RTLD_LOCAL, NULL, &libelf,
			 names, syms, sizeof names / sizeof names[0], why,
			 size))
		return loaded;
	PF_LIB_STORE(PF_ELF_FUNCTIONS, &pf_libelf, syms);
	pf_libelf.elf_version(EV_CURRENT);
	loaded = true;
	return true;
}
