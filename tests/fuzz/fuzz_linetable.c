/* The line-table decoders of every version on arbitrary tables: negative
 * and huge line deltas, truncated entries and varints, any instruction
 * offset.  Input: a kind byte, firstlineno and the offset (4 bytes each,
 * little-endian), then the table.  Seeds: tables of real interpreters
 * (tests/unit/linetable_vectors.h). */
#include <string.h>

#include "fuzz.h"
#include "walk/linetable.h"

static int32_t le32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 |
			 (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 9)
		return 0;
	enum pf_line_table kind = (enum pf_line_table)(data[0] % 3);
	int firstlineno = le32(data + 1), addr = le32(data + 5);
	/* A copy of exactly the table's length, so that ASan sees any read
	 * past its end. */
	size_t len = size - 9;
	uint8_t *table = malloc(len ? len : 1);
	if (table == NULL)
		return 0;
	memcpy(table, data + 9, len);
	pf_line_number(kind, table, len, firstlineno, addr);
	free(table);
	return 0;
}
