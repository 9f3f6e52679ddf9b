/* json-c, loaded (dlopen) the first time a JSON document is written: a
 * text dump, the most common, does not pay for loading it, about 0.04 ms
 * of a 2.5 ms pyfault-attach.  The functions are called as pf_json.NAME,
 * under the names the headers give them, once pf_json_load has
 * succeeded. */
#ifndef PYFAULT_JSON_LIB_H
#define PYFAULT_JSON_LIB_H

#include <json.h>
#include <stdbool.h>
#include <stddef.h>

#define PF_JSON_FUNCTIONS(X)                                                  \
	X(json_object_array_add) X(json_object_new_array)                     \
	X(json_object_new_boolean) X(json_object_new_double)                  \
	X(json_object_new_int64) X(json_object_new_object)                    \
	X(json_object_new_string) X(json_object_new_string_len)               \
	X(json_object_new_uint64) X(json_object_object_add)                   \
	X(json_object_put) X(json_object_to_json_string_ext)

struct pf_json_lib {
#define PF_JSON_FIELD_(f) __typeof__(f) *f;
	PF_JSON_FUNCTIONS(PF_JSON_FIELD_)
#undef PF_JSON_FIELD_
};

/* The functions; each is NULL until pf_json_load has succeeded. */
extern struct pf_json_lib pf_json;

/* Loads json-c on the first call, true when its functions can be called;
 * else false, with why[size] naming the cause and the package.  The
 * commands call it before they hold a target for a JSON dump. */
bool pf_json_load(char *why, size_t size);

#endif
