#include "walk/py_string.h"

#include <stdlib.h>
#include <string.h>

/* Py_TPFLAGS_UNICODE_SUBCLASS: PyUnicode_Check() tests this bit. */
#define UNICODE_SUBCLASS_FLAG (1ul << 28)
/* 2.7's Py_TPFLAGS_STRING_SUBCLASS: PyString_Check(). */
#define STRING_SUBCLASS_FLAG (1ul << 27)

static bool has_type_flag(struct pf_mem *mem, const struct pf_layout *l,
			  uint64_t addr, uint64_t flag)
{
	uint64_t type, flags;
	return pf_mem_read_u64(mem, addr + l->object.ob_type, &type) &&
	       pf_mem_read_u64(mem, type + l->type.tp_flags, &flags) &&
	       (flags & flag);
}

static void decode(const uint8_t *raw, unsigned kind, uint32_t n,
		   uint32_t *chars)
{
	for (uint32_t i = 0; i < n; i++) {
		switch (kind) {
		case 1:
			chars[i] = raw[i];
			break;
		case 2: {
			uint16_t c;
			memcpy(&c, raw + 2 * i, 2);
			chars[i] = c;
			break;
		}
		default:
			memcpy(&chars[i], raw + 4 * i, 4);
		}
	}
}

/* The first max (at most) of length characters of kind bytes each at
 * data into text, left absent when unreadable.  False only when out of
 * memory. */
static bool read_chars(struct pf_mem *mem, uint64_t data, unsigned kind,
		       int64_t length, uint32_t max, struct pf_text *text)
{
	uint32_t n = length > max ? max : (uint32_t)length;
	size_t bytes = (size_t)n * kind;
	uint8_t small[PF_MAX_STRING_LENGTH * 4];
	uint8_t *raw = bytes <= sizeof small ? small : malloc(bytes);
	if (raw == NULL)
		return false;
	bool ok = true;
	if (pf_mem_read(mem, data, raw, bytes)) {
		text->chars = malloc((n ? n : 1) * sizeof *text->chars);
		if (text->chars != NULL) {
			decode(raw, kind, n, text->chars);
			text->length = n;
			text->truncated = length > max;
			text->present = true;
		} else {
			ok = false;
		}
	}
	if (raw != small)
		free(raw);
	return ok;
}

/* A 2.7 str: its bytes, each kept as one char for the formatter. */
static bool read_bytes_text(struct pf_mem *mem, const struct pf_layout *l,
			    uint64_t addr, uint32_t max, struct pf_text *text)
{
	int64_t length;
	if (!has_type_flag(mem, l, addr, STRING_SUBCLASS_FLAG) ||
	    !pf_mem_read(mem, addr + l->bytes.ob_size, &length,
			 sizeof length) ||
	    length < 0)
		return true;
	return read_chars(mem, addr + l->bytes.ob_sval, 1, length, max, text);
}

bool pf_read_text(struct pf_mem *mem, const struct pf_layout *l,
		  uint64_t addr, struct pf_text *text)
{
	return pf_read_text_max(mem, l, addr, PF_MAX_STRING_LENGTH, text);
}

bool pf_read_text_max(struct pf_mem *mem, const struct pf_layout *l,
		      uint64_t addr, uint32_t max, struct pf_text *text)
{
	memset(text, 0, sizeof *text);
	if (max > PF_TEXT_MAX_READ)
		max = PF_TEXT_MAX_READ;
	if (l->code_names_bytes)
		return read_bytes_text(mem, l, addr, max, text);
	if (!has_type_flag(mem, l, addr, UNICODE_SUBCLASS_FLAG))
		return true;

	int64_t length;
	uint32_t state;
	if (!pf_mem_read(mem, addr + l->unicode.length, &length, sizeof length) ||
	    !pf_mem_read(mem, addr + l->unicode.state, &state, sizeof state) ||
	    length < 0)
		return true;
	unsigned kind = (state >> l->unicode.kind_shift) & 7;
	bool compact = (state >> l->unicode.compact_shift) & 1;
	bool ascii = (state >> l->unicode.ascii_shift) & 1;
	/* Kind 0 is a legacy string not yet made ready (before 3.12): its
	 * wchar_t buffer is not canonical, and code objects never hold one. */
	if (kind != 1 && kind != 2 && kind != 4)
		return true;

	uint64_t data;
	if (compact)
		data = addr + (uint64_t)(ascii ? l->unicode.ascii_size
					       : l->unicode.compact_size);
	else if (!pf_mem_read_u64(mem, addr + l->unicode.data, &data))
		return true;
	return read_chars(mem, data, kind, length, max, text);
}

void pf_text_free(struct pf_text *text)
{
	free(text->chars);
	memset(text, 0, sizeof *text);
}

bool pf_text_is_ascii(const struct pf_text *text, const char *s)
{
	size_t n = strlen(s);
	if (!text->present || text->truncated || text->length != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (text->chars[i] != (unsigned char)s[i])
			return false;
	return true;
}

bool pf_text_equal(struct pf_mem *mem, const struct pf_layout *l, uint64_t a,
		   uint64_t b)
{
	if (a == b)
		return true;
	struct pf_text ta, tb;
	bool same = false;
	if (pf_read_text_max(mem, l, a, PF_TEXT_EQUAL_MAX, &ta)) {
		if (pf_read_text_max(mem, l, b, PF_TEXT_EQUAL_MAX, &tb)) {
			same = ta.present && tb.present && !ta.truncated &&
			       !tb.truncated && ta.length == tb.length &&
			       memcmp(ta.chars, tb.chars,
				      ta.length * sizeof *ta.chars) == 0;
			pf_text_free(&tb);
		}
		pf_text_free(&ta);
	}
	return same;
}
