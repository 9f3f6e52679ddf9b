#include "elf/dw_lib.h"

#include <dlfcn.h>
#include <string.h>

#include "base/lib_load.h"

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
	if (loaded ||
	    !pf_lib_load("libdw.so.1", RTLD_LAZY | RTLD_LOCAL, NULL, &libdw,
			 names, syms, sizeof names / sizeof names[0], why,
			 size))
		return loaded;
	size_t i = 0;
#define PF_STORE_(f) memcpy(&pf_dw.f, &syms[i++], sizeof syms[0]);
	PF_DW_FUNCTIONS(PF_STORE_)
#undef PF_STORE_
	loaded = true;
	return true;
}
