/* Libraries loaded with dlopen when a dump first needs them (libelf,
 * libdw, libunwind, json-c): the most common dump, of an interpreter seen
 * before, loads none, and a missing one fails only the outputs that need
 * it, with the package to install named. */
#ifndef PYFAULT_LIB_LOAD_H
#define PYFAULT_LIB_LOAD_H

#include <stddef.h>
#include <string.h>

/* What one library is to the user, for the messages. */
struct pf_lib_desc {
	const char *what;      /* "json-c for JSON output" */
	const char *package;   /* the Debian package that installs it */
	const char *expected;  /* the versions that have every function */
};

/* Loads so (dlopen with flags) and looks up names[0..n) into syms, in it
 * or else in also (a handle loaded before, or NULL).  Its handle; NULL
 * with why[size] naming the cause and the fix: "cannot load WHAT (the
 * loader's error): install the Debian package PACKAGE", or "cannot use
 * WHAT: it has no NAME (EXPECTED expected)". */
void *pf_lib_load(const char *so, int flags, void *also,
		  const struct pf_lib_desc *desc, const char *const *names,
		  void **syms, size_t n, char *why, size_t size);

#define PF_LIB_STRING_(x) #x
/* For an X-macro list of functions: their names, as an initializer. */
#define PF_LIB_NAME(f) PF_LIB_STRING_(f),

/* Stores syms[0..) that pf_lib_load looked up for FUNCTIONS' names into
 * the function pointers of *lib named the same, in the list's order. */
#define PF_LIB_STORE(FUNCTIONS, lib, syms)                                    \
	do {                                                                  \
		size_t pf_lib_i_ = 0;                                         \
		__typeof__(lib) pf_lib_ = (lib);                              \
		void *const *pf_lib_syms_ = (syms);                           \
		FUNCTIONS(PF_LIB_STORE_ONE_)                                  \
	} while (0)
#define PF_LIB_STORE_ONE_(f)                                                  \
	memcpy(&pf_lib_->f, &pf_lib_syms_[pf_lib_i_++], sizeof(void *));

#endif
