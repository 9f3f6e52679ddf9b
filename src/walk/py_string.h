/* Reading the target's str objects (compact ASCII, compact, and legacy
 * non-compact layouts) into code points. */
#ifndef PYFAULT_PY_STRING_H
#define PYFAULT_PY_STRING_H

#include <stdint.h>

#include "layout/py_layout.h"
#include "process/remote_mem.h"
#include "base/snapshot.h"

/* Fills text from the object at addr.  text->present is false when addr is
 * not a readable str, which faulthandler prints as ???.  Returns false only
 * when memory runs out. */
bool pf_read_text(struct pf_mem *mem, const struct pf_layout *layout,
		  uint64_t addr, struct pf_text *text);

/* The longest str pf_read_text_max reads whole: PF_MEM_MAX_READ bytes of
 * 4-byte code points. */
#define PF_TEXT_MAX_READ (PF_MEM_MAX_READ / 4)

/* As pf_read_text, but cut at max code points (at most PF_TEXT_MAX_READ)
 * rather than faulthandler's PF_MAX_STRING_LENGTH: for comparing strs. */
bool pf_read_text_max(struct pf_mem *mem, const struct pf_layout *layout,
		      uint64_t addr, uint32_t max, struct pf_text *text);

void pf_text_free(struct pf_text *text);

/* text, read whole, is the ASCII string s. */
bool pf_text_is_ascii(const struct pf_text *text, const char *s);

/* The longest strs pf_text_equal compares; longer ones differ. */
#define PF_TEXT_EQUAL_MAX 1024

/* The objects at a and b are the same str (by value); false when either
 * cannot be read. */
bool pf_text_equal(struct pf_mem *mem, const struct pf_layout *layout,
		   uint64_t a, uint64_t b);

#endif
