#include "format/json_lib.h"

#include <dlfcn.h>

#include "base/lib_load.h"

struct pf_json_lib pf_json;

bool pf_json_load(char *why, size_t size)
{
	static bool loaded;
	static const struct pf_lib_desc json_c = {
		"json-c for JSON output", "libjson-c5", "json-c 0.14 or later"};
	static const char *const names[] = {PF_JSON_FUNCTIONS(PF_LIB_NAME)};
	void *syms[sizeof names / sizeof names[0]];
	/* json-c's soname from 0.14 on (configure's minimum) to this day. */
	if (loaded ||
	    !pf_lib_load("libjson-c.so.5", RTLD_LAZY | RTLD_LOCAL, NULL,
			 &json_c, names, syms, sizeof names / sizeof names[0],
			 why, size))
		return loaded;
	PF_LIB_STORE(PF_JSON_FUNCTIONS, &pf_json, syms);
	loaded = true;
	return true;
}
