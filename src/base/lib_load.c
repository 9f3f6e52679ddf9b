#include "base/lib_load.h"

#include <dlfcn.h>
#include <stdio.h>

void *pf_lib_load(const char *so, int flags, void *also,
		  const struct pf_lib_desc *desc, const char *const *names,
		  void **syms, size_t n, char *why, size_t size)
{
	void *handle = dlopen(so, flags);
	if (handle == NULL) {
		const char *e = dlerror();
		snprintf(why, size,
			 "cannot load %s (%s): install the Debian package %s",
			 desc->what, e ? e : "unknown error", desc->package);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		syms[i] = dlsym(handle, names[i]);
		if (syms[i] == NULL && also != NULL)
			syms[i] = dlsym(also, names[i]);
		if (syms[i] == NULL) {
			snprintf(why, size,
				 "cannot use %s: it has no %s (%s expected)",
				 desc->what, names[i], desc->expected);
			dlclose(handle);
			return NULL;
		}
	}
	return handle;
}
