#include "native/unwind_lib.h"

#include <dlfcn.h>
#include <stdbool.h>

#include "base/lib_load.h"

const struct pf_unwind_lib *pf_unwind_lib(char *why, size_t size)
{
	static struct pf_unwind_lib lib;
	static bool loaded;
	if (loaded)
		return &lib;
	static const struct pf_lib_desc libunwind = {
		"libunwind for the C stacks", "libunwind8", "libunwind 1.x"};
	static const char *const names[] = {
		PF_UNWIND_FUNCTIONS(PF_LIB_NAME)};
	void *syms[sizeof names / sizeof names[0]];
	/* The sonames of the libraries pkg-config names for
	 * libunwind-ptrace (-lunwind-ptrace -lunwind-generic), libunwind
	 * 1.x's ABI.  The unwinder first and for every later object:
	 * libunwind-ptrace uses its functions without naming it as a
	 * dependency.  dlsym on a handle searches its object and that
	 * object's dependencies: _UPT_* in the one, the unwinder's in the
	 * other. */
	void *unwinder = pf_lib_load("libunwind-x86_64.so.8",
				     RTLD_NOW | RTLD_GLOBAL, NULL, &libunwind,
				     NULL, NULL, 0, why, size);
	if (unwinder == NULL ||
	    !pf_lib_load("libunwind-ptrace.so.0", RTLD_NOW, unwinder,
			 &libunwind, names, syms,
			 sizeof names / sizeof names[0], why, size)) {
		if (unwinder)
			dlclose(unwinder);
		return NULL;
	}
	PF_LIB_STORE(PF_UNWIND_FUNCTIONS, &lib, syms);
	loaded = true;
	return &lib;
}
