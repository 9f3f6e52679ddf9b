#include "native/unwind_lib.h"

#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The sonames of the libraries pkg-config names for libunwind-ptrace
 * (-lunwind-ptrace -lunwind-generic), libunwind 1.x's ABI.  The
 * unwinder first and for every later object: libunwind-ptrace uses its
 * functions without naming it as a dependency. */
static const char unwinder_so[] = "libunwind-x86_64.so.8";
static const char ptrace_so[] = "libunwind-ptrace.so.0";

#define PF_STRING_(x) #x
#define PF_NAME_(x) PF_STRING_(x)

const struct pf_unwind_lib *pf_unwind_lib(char *why, size_t size)
{
	static struct pf_unwind_lib lib;
	static bool loaded;
	if (loaded)
		return &lib;
	void *handles[2] = {
		dlopen(unwinder_so, RTLD_NOW | RTLD_GLOBAL),
		NULL,
	};
	if (handles[0])
		handles[1] = dlopen(ptrace_so, RTLD_NOW);
	if (handles[1] == NULL) {
		const char *e = dlerror();
		snprintf(why, size,
			 "cannot load libunwind for the C stacks (%s): install "
			 "the Debian package libunwind8",
			 e ? e : "unknown error");
		if (handles[0])
			dlclose(handles[0]);
		return NULL;
	}
	/* dlsym on a handle searches its object and that object's
	 * dependencies: _UPT_* in the one, the unwinder's in the other. */
	const char *missing = NULL;
#define PF_LOAD_(f)                                                           \
	{                                                                     \
		void *sym = dlsym(handles[1], PF_NAME_(f));                   \
		if (sym == NULL)                                              \
			sym = dlsym(handles[0], PF_NAME_(f));                 \
		if (sym == NULL && missing == NULL)                           \
			missing = PF_NAME_(f);                                \
		memcpy(&lib.f, &sym, sizeof sym);                             \
	}
	PF_UNWIND_FUNCTIONS(PF_LOAD_)
#undef PF_LOAD_
	if (missing) {
		snprintf(why, size,
			 "cannot use libunwind for the C stacks: %s or %s has "
			 "no %s (libunwind 1.x expected)",
			 unwinder_so, ptrace_so, missing);
		dlclose(handles[1]);
		dlclose(handles[0]);
		return NULL;
	}
	loaded = true;
	return &lib;
}
