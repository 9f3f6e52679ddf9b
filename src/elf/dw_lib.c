#include "elf/dw_lib.h"

#include <dlfcn.h>

#include "base/lib_load.h"
#include "elf/elf_lib.h"

struct pf_dw_lib pf_dw;

bool pf_dw_load(char *why, size_t size)
{
	static bool loaded;
	/* libdw's soname: the ABI that pkg-config's libdw names. */
	static const struct pf_lib_desc libdw = {
		"libdw.so.1", "libdw1", "elfutils 0.171 or later"};
	static const char *const names[] = {PF_DW_FUNCTIONS(PF_LIB_NAME)};
	void *syms[sizeof names / sizeof names[0]];
	/* Bound at each function's first call, as the program's own
	 * libraries are: a dump calls a few of libdw's hundreds. */
	/* libdw hands out libelf's objects, which pyfault reads with
	 * libelf's functions. */
	if (loaded || !pf_libelf_load(why, size) ||
	    !pf_lib_load("libdw.so.1", RTLD_LAZY | RTLD_LOCAL, NULL, &libdw,
			 names, syms, sizeof names / sizeof names[0], why,
			 size))
		return loaded;
	PF_LIB_STORE(PF_DW_FUNCTIONS, &pf_dw, syms);
	loaded = true;
	return true;
}
