#include "format/json_lib.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

/* json-c's soname from 0.14 on (configure's minimum) to this day. */
static const char json_so[] = "libjson-c.so.5";

struct pf_json_lib pf_json;

#define PF_STRING_(x) #x
#define PF_NAME_(x) PF_STRING_(x)

bool pf_json_load(char *why, size_t size)
{
	static bool loaded;
	if (loaded)
		return true;
	void *handle = dlopen(json_so, RTLD_LAZY | RTLD_LOCAL);
	if (handle == NULL) {
		const char *e = dlerror();
		snprintf(why, size,
			 "cannot load %s for JSON output (%s): install the "
			 "Debian package libjson-c5",
			 json_so, e ? e : "unknown error");
		return false;
	}
	struct pf_json_lib lib;
	const char *missing = NULL;
#define PF_LOAD_(f)                                                           \
	{                                                                     \
		void *sym = dlsym(handle, PF_NAME_(f));                       \
		if (sym == NULL && missing == NULL)                           \
			missing = PF_NAME_(f);                                \
		memcpy(&lib.f, &sym, sizeof sym);                             \
	}
	PF_JSON_FUNCTIONS(PF_LOAD_)
#undef PF_LOAD_
	if (missing) {
		snprintf(why, size,
			 "cannot use %s for JSON output: it has no %s (json-c "
			 "0.14 or later expected)",
			 json_so, missing);
		dlclose(handle);
		return false;
	}
	pf_json = lib;
	loaded = true;
	return true;
}
