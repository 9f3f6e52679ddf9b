#include "walk/linetable.h"

#include <stdbool.h>

/* CPython adds line deltas in int, which wraps on every platform it runs
 * on; a corrupt table must give the same garbage here, not C's undefined
 * behaviour. */
static int add_wrapping(int a, int b)
{
	return (int)((unsigned)a + (unsigned)b);
}

/* 2.7, 3.6-3.9 Objects/codeobject.c: PyCode_Addr2Line over co_lnotab,
 * whose line deltas are signed from 3.6 on. */
static int line_lnotab(const uint8_t *p, size_t len, int line, int addrq,
		       bool signed_deltas)
{
	int addr = 0;
	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += p[i];
		if (addr > addrq)
			break;
		line = add_wrapping(line, signed_deltas ? (int8_t)p[i + 1]
							: p[i + 1]);
	}
	return line;
}

/* The address-range walk that 3.10 and 3.11+ share; only the entry
 * decoding differs. */
struct range {
	const uint8_t *next, *limit;
	int start, end, line, computed_line;
};

/* 3.10 Objects/codeobject.c: (start delta, line delta) byte pairs, a line
 * delta of -128 meaning "no line". */
static bool advance_pep626(struct range *r)
{
	if (r->limit - r->next < 2)
		return false;
	r->start = r->end;
	r->end += r->next[0];
	int ldelta = (int8_t)r->next[1];
	r->next += 2;
	if (ldelta == -128) {
		r->line = -1;
	} else {
		r->computed_line = add_wrapping(r->computed_line, ldelta);
		r->line = r->computed_line;
	}
	return true;
}

static unsigned scan_varint(const uint8_t **p, const uint8_t *limit)
{
	unsigned read = *(*p)++;
	unsigned val = read & 63, shift = 0;
	while ((read & 64) && *p < limit && shift < 26) {
		read = *(*p)++;
		shift += 6;
		val |= (read & 63) << shift;
	}
	return val;
}

static int scan_signed_varint(const uint8_t *p, const uint8_t *limit)
{
	if (p >= limit)
		return 0;
	unsigned uval = scan_varint(&p, limit);
	return (uval & 1) ? -(int)(uval >> 1) : (int)(uval >> 1);
}

/* 3.11+ Objects/codeobject.c (Objects/locations.md): one entry per run of
 * code units; the first byte has the high bit set, the code in bits 3-6 and
 * the length - 1 in bits 0-2. */
static int location_line_delta(const uint8_t *p, const uint8_t *limit)
{
	switch ((p[0] >> 3) & 15) {
	case 13: /* PY_CODE_LOCATION_INFO_NO_COLUMNS */
	case 14: /* PY_CODE_LOCATION_INFO_LONG */
		return scan_signed_varint(p + 1, limit);
	case 11: /* PY_CODE_LOCATION_INFO_ONE_LINE1 */
		return 1;
	case 12: /* PY_CODE_LOCATION_INFO_ONE_LINE2 */
		return 2;
	default: /* no line, ONE_LINE0, short forms: same line */
		return 0;
	}
}

static bool advance_locations(struct range *r)
{
	if (r->next >= r->limit)
		return false;
	uint8_t first = r->next[0];
	r->computed_line = add_wrapping(
		r->computed_line, location_line_delta(r->next, r->limit));
	r->line = (first >> 3) == 0x1f ? -1 : r->computed_line;
	r->start = r->end;
	r->end += ((first & 7) + 1) * 2;
	do
		r->next++;
	while (r->next < r->limit && (r->next[0] & 128) == 0);
	return true;
}

static int line_ranges(bool (*advance)(struct range *), const uint8_t *table,
		       size_t len, int firstlineno, int addrq)
{
	if (addrq < 0)
		return firstlineno;
	/* An unreadable table is NULL with len 0. */
	struct range r = {
		.next = table, .limit = len ? table + len : table, .start = -1, .end = 0,
		.line = -1, .computed_line = firstlineno,
	};
	while (r.end <= addrq) {
		if (!advance(&r))
			return -1;
		/* Empty ranges are skipped the way PyLineTable_NextAddressRange
		 * skips them. */
		while (r.start == r.end)
			if (!advance(&r))
				return -1;
	}
	return r.line;
}

int pf_line_number(enum pf_line_table kind, const uint8_t *table, size_t len,
		   int firstlineno, int addr)
{
	switch (kind) {
	case PF_LINES_LNOTAB:
		return line_lnotab(table, len, firstlineno, addr, true);
	case PF_LINES_LNOTAB_UNSIGNED:
		return line_lnotab(table, len, firstlineno, addr, false);
	case PF_LINES_PEP626:
		return line_ranges(advance_pep626, table, len, firstlineno,
				   addr);
	case PF_LINES_LOCATIONS:
		return line_ranges(advance_locations, table, len, firstlineno,
				   addr);
	}
	return -1;
}
