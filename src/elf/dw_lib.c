#include "elf/dw_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* libdw's soname: the ABI that pkg-config's libdw names. */
static const char dw_so[] = "libdw.so.1";

struct pf_dw_lib pf_dw;

#define PF_STRING_(x) #x
#define PF_NAME_(x) PF_STRING_(x)

bool pf_dw_load(char *why, size_t size)
{
	static bool loaded;
	if (loaded)
		return true;
	/* Bound at each function's first call, as the program's own
	 * libraries are: a dump calls a few of libdw's hundreds. */
	void *handle = dlopen(dw_so, RTLD_LAZY | RTLD_LOCAL);
	if (handle == NULL) {
		const char *e = dlerror();
		snprintf(why, size,
			 "cannot load %s (%s): install the Debian package "
			 "libdw1",
			 dw_so, e ? e : "unknown error");
		return false;
	}
	struct pf_dw_lib lib;
	const char *missing = NULL;
#define PF_LOAD_(f)                                                           \
	{                                                                     \
		void *sym = dlsym(handle, PF_NAME_(f));                       \
		if (sym == NULL && missing == NULL)                           \
			missing = PF_NAME_(f);                                \
		memcpy(&lib.f, &sym, sizeof sym);                             \
	}
	PF_DW_FUNCTIONS(PF_LOAD_)
#undef PF_LOAD_
	if (missing) {
		snprintf(why, size,
			 "cannot use %s: it has no %s (elfutils 0.171 or "
			 "later expected)",
			 dw_so, missing);
		dlclose(handle);
		return false;
	}
	pf_dw = lib;
	loaded = true;
	return true;
}
