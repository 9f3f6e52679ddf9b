/* The bounded repr of a target object that --locals shows, built from
 * its memory alone (nothing runs in the target):
 *   None, True, False; int in decimal, past 100 digits its first 100
 *   then "... (N digits)" (2.7's long with its "L"); float as Python's
 *   repr (the shortest string that reads back to it); str and bytes
 *   quoted, escaped as faulthandler escapes (and '"', '\' too), cut at
 *   100 characters with "..."; tuple, list, dict, set and frozenset as
 *   their first 3 items and ", ..." then " (len N)" when they have more,
 *   nested ones past the second level as "[...] (len N)" (empty: "[]"); anything else
 *   as "<TYPE object at 0xADDR>"; what cannot be read as
 *   "<unreadable at 0xADDR>". */
#ifndef PYFAULT_PY_REPR_H
#define PYFAULT_PY_REPR_H

#include <stddef.h>
#include <stdint.h>

#include "layout/py_target.h"
#include "walk/py_dict.h"

/* Items a container shows. */
#define PF_REPR_ITEMS 3
/* Characters of a str (bytes of a bytes) shown. */
#define PF_REPR_CHARS 100
/* Decimal digits of an int shown. */
#define PF_REPR_DIGITS 100
/* Ints of more 30-bit digits than this (about 36,000 decimal digits)
 * are not converted: "<int of about N digits at 0xADDR>". */
#define PF_REPR_MAX_INT_DIGITS 4000

/* The repr of obj (malloc'ed; NULL when memory runs out), and in type
 * the __name__ of its type ("" when unreadable). */
char *pf_repr(const struct pf_reader *r, const struct pf_object_types *types,
	      uint64_t obj, char *type, size_t type_size);

/* Python's repr of a float: the shortest digits that read back to x, in
 * fixed notation for exponents -4 to 15, else as 1e+16. */
void pf_float_repr(double x, char *out, size_t size);

#endif
