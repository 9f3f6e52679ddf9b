/* Instruction offset to line number, computed exactly as each CPython
 * version's PyCode_Addr2Line computes it, on a copy of the code object's
 * table.  Every read is bounded by the table's length. */
#ifndef PYFAULT_LINETABLE_H
#define PYFAULT_LINETABLE_H

#include <stddef.h>
#include <stdint.h>

#include "layout/py_layout.h"

/* addr is a byte offset into the bytecode; a negative addr is allowed (a
 * frame that has not started yet).  Returns -1 where CPython would. */
int pf_line_number(enum pf_line_table kind, const uint8_t *table, size_t len,
		   int firstlineno, int addr);

#endif
