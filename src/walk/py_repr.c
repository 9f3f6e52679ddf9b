#include "walk/py_repr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk/py_string.h"

/* Reads of a C string stop at page ends, which no mapping crosses. */
#define PAGE 4096u
/* Containers deeper than this show as "[...] (len N)". */
#define MAX_DEPTH 2
/* Bits of a PyLong digit on every 64-bit Linux build (see
 * thread_names.c). */
#define DIGIT_BITS 30

struct repr {
	const struct pf_reader *r;
	const struct pf_object_types *types;
	FILE *out;
};

void pf_float_repr(double x, char *out, size_t size)
{
	if (isnan(x)) {
		snprintf(out, size, "nan");
		return;
	}
	if (isinf(x)) {
		snprintf(out, size, "%sinf", x < 0 ? "-" : "");
		return;
	}
	/* The shortest %e form that reads back to x: its digits and
	 * exponent. */
	char e[40];
	for (int prec = 0; prec < 17; prec++) {
		snprintf(e, sizeof e, "%.*e", prec, x);
		if (strtod(e, NULL) == x)
			break;
	}
	char digits[24];
	size_t n = 0;
	const char *p = e + (e[0] == '-');
	for (; *p && *p != 'e'; p++)
		if (*p != '.')
			digits[n++] = *p;
	digits[n] = '\0';
	int exp = atoi(p + 1), decpt = exp + 1;
	const char *sign = e[0] == '-' ? "-" : "";
	/* float_repr_style "short": exponent notation when decpt is at
	 * most -4 or above 16. */
	if (decpt <= -4 || decpt > 16) {
		snprintf(out, size, "%s%c%s%se%c%02d", sign, digits[0],
			 n > 1 ? "." : "", digits + 1, exp < 0 ? '-' : '+',
			 abs(exp));
	} else if (decpt <= 0) {
		/* 0.000ddd */
		char zeros[8] = "0000";
		zeros[-decpt] = '\0';
		snprintf(out, size, "%s0.%s%s", sign, zeros, digits);
	} else if ((size_t)decpt >= n) {
		/* ddd000.0 */
		char zeros[24] = "0000000000000000";
		zeros[(size_t)decpt - n] = '\0';
		snprintf(out, size, "%s%s%s.0", sign, digits, zeros);
	} else {
		snprintf(out, size, "%s%.*s.%s", sign, decpt, digits,
			 digits + decpt);
	}
}

static void unreadable(struct repr *c, uint64_t obj)
{
	fprintf(c->out, "<unreadable at 0x%llx>", (unsigned long long)obj);
}

/* The __name__ of type: tp_name after its last dot. */
static bool type_name(struct repr *c, uint64_t type, char *name,
		      size_t size)
{
	uint64_t tp_name;
	char buf[128];
	name[0] = '\0';
	if (!pf_mem_read_u64(c->r->mem,
			     type + (uint64_t)c->r->l->type_name.tp_name,
			     &tp_name) ||
	    tp_name == 0)
		return false;
	/* A name may end just before the end of its mapping: read up to
	 * page ends, which no mapping crosses. */
	size_t got = 0;
	while (got < sizeof buf - 1) {
		uint64_t at = tp_name + got;
		size_t n = PAGE - (size_t)(at % PAGE);
		if (n > sizeof buf - 1 - got)
			n = sizeof buf - 1 - got;
		if (!pf_mem_read(c->r->mem, at, buf + got, n))
			return false;
		void *nul = memchr(buf + got, '\0', n);
		got += n;
		if (nul != NULL)
			break;
	}
	buf[got] = '\0';
	if (buf[0] == '\0' || strlen(buf) == sizeof buf - 1)
		return false;
	const char *dot = strrchr(buf, '.');
	snprintf(name, size, "%s", dot ? dot + 1 : buf);
	return true;
}

/* The decimal digits of a non-negative PyLong of n 30-bit digits. */
static bool long_decimal(struct repr *c, uint64_t obj, int64_t n,
			 bool negative, bool py2_long)
{
	const struct pf_layout *l = c->r->l;
	uint32_t *d = malloc(((size_t)n ? (size_t)n : 1) * 4);
	/* Base 10^9 limbs, least significant first. */
	uint32_t *out = malloc(((size_t)n * 10 / 9 + 2) * 4);
	size_t nout = 0;
	bool ok = d && out &&
		  pf_mem_read(c->r->mem, obj + (uint64_t)l->long_obj.ob_digit,
			      d, 4 * (size_t)n);
	for (int64_t i = n; ok && i-- > 0;) {
		if (d[i] >> DIGIT_BITS) {
			ok = false;
			break;
		}
		/* out = out * 2^30 + d[i] */
		uint64_t carry = d[i];
		for (size_t k = 0; k < nout; k++) {
			uint64_t v = ((uint64_t)out[k] << DIGIT_BITS) + carry;
			out[k] = (uint32_t)(v % 1000000000u);
			carry = v / 1000000000u;
		}
		while (carry) {
			out[nout++] = (uint32_t)(carry % 1000000000u);
			carry /= 1000000000u;
		}
	}
	if (ok) {
		char *text = NULL;
		size_t len = 0;
		FILE *s = open_memstream(&text, &len);
		ok = s != NULL;
		if (ok) {
			fprintf(s, "%u", nout ? out[nout - 1] : 0u);
			for (size_t k = nout - 1; nout > 1 && k-- > 0;)
				fprintf(s, "%09u", out[k]);
			ok = fclose(s) == 0;
		}
		if (ok) {
			fputs(negative ? "-" : "", c->out);
			if (len > PF_REPR_DIGITS)
				fprintf(c->out, "%.*s... (%zu digits)",
					PF_REPR_DIGITS, text, len);
			else
				fputs(text, c->out);
			if (py2_long)
				fputc('L', c->out);
		}
		free(text);
	}
	free(d);
	free(out);
	return ok;
}

static bool int_repr(struct repr *c, uint64_t obj, bool py2_long)
{
	const struct pf_layout *l = c->r->l;
	int64_t n;
	bool negative;
	if (l->long_obj.lv_tag != PF_NO_OFFSET) {
		/* 3.12+: digit count << 3, sign in the low two bits. */
		uint64_t tag;
		if (!pf_mem_read_u64(c->r->mem, obj + l->long_obj.lv_tag, &tag))
			return false;
		n = (int64_t)(tag >> 3);
		negative = (tag & 3) == 2;
	} else {
		if (!pf_mem_read(c->r->mem, obj + l->long_obj.ob_size, &n,
				 sizeof n))
			return false;
		negative = n < 0;
		n = negative ? -n : n;
	}
	if (n < 0)
		return false;
	if (n > PF_REPR_MAX_INT_DIGITS) {
		fprintf(c->out, "<int of about %.0f digits at 0x%llx>",
			ceil((double)n * DIGIT_BITS * log10(2.0)),
			(unsigned long long)obj);
		return true;
	}
	return long_decimal(c, obj, n, negative, py2_long);
}

static bool text_repr(struct repr *c, uint64_t obj)
{
	struct pf_text text;
	if (!pf_read_text_max(c->r->mem, c->r->l, obj, PF_REPR_CHARS, &text))
		return false;
	bool ok = text.present;
	if (ok) {
		fputc('"', c->out);
		for (uint32_t i = 0; i < text.length; i++) {
			uint32_t ch = text.chars[i];
			if (ch >= ' ' && ch <= 126 && ch != '"' && ch != '\\')
				fputc((int)ch, c->out);
			else if (ch <= 0xff)
				fprintf(c->out, "\\x%02x", (unsigned)ch);
			else if (ch <= 0xffff)
				fprintf(c->out, "\\u%04x", (unsigned)ch);
			else
				fprintf(c->out, "\\U%08x", (unsigned)ch);
		}
		fputc('"', c->out);
		if (text.truncated)
			fputs("...", c->out);
	}
	pf_text_free(&text);
	return ok;
}

static bool bytes_repr(struct repr *c, uint64_t obj)
{
	const struct pf_layout *l = c->r->l;
	int64_t size;
	uint8_t buf[PF_REPR_CHARS];
	if (!pf_mem_read(c->r->mem, obj + l->bytes.ob_size, &size,
			 sizeof size) ||
	    size < 0)
		return false;
	size_t n = size > PF_REPR_CHARS ? PF_REPR_CHARS : (size_t)size;
	if (!pf_mem_read(c->r->mem, obj + l->bytes.ob_sval, buf, n))
		return false;
	fputs("b\"", c->out);
	for (size_t i = 0; i < n; i++) {
		if (buf[i] >= ' ' && buf[i] <= 126 && buf[i] != '"' &&
		    buf[i] != '\\')
			fputc(buf[i], c->out);
		else
			fprintf(c->out, "\\x%02x", buf[i]);
	}
	fputc('"', c->out);
	if ((size_t)size > n)
		fputs("...", c->out);
	return true;
}

static void value(struct repr *c, uint64_t obj, int depth);

/* The first items of a sequence of n object pointers at items. */
static bool sequence_items(struct repr *c, uint64_t items, int64_t n,
			   int depth)
{
	for (int64_t i = 0; i < n && i < PF_REPR_ITEMS; i++) {
		uint64_t item;
		if (!pf_mem_read_u64(c->r->mem, items + 8u * (uint64_t)i,
				     &item))
			return false;
		fputs(i ? ", " : "", c->out);
		value(c, item, depth + 1);
	}
	if (n > PF_REPR_ITEMS)
		fputs(", ...", c->out);
	return true;
}

enum container { TUPLE, LIST, DICT, SET, FROZENSET };

/* The set's items in table order, as iterating it gives them. */
static bool set_items(struct repr *c, uint64_t obj, int depth)
{
	const struct pf_layout *l = c->r->l;
	int64_t mask;
	uint64_t table, dummy = 0;
	if (!pf_mem_read(c->r->mem, obj + l->set.mask, &mask, sizeof mask) ||
	    !pf_mem_read_u64(c->r->mem, obj + l->set.table, &table) ||
	    mask < 0 || (c->types->set_dummy &&
			 !pf_mem_read_u64(c->r->mem, c->types->set_dummy,
					  &dummy)))
		return false;
	int shown = 0;
	for (int64_t i = 0; i <= mask && i < PF_MAX_DICT_ENTRIES; i++) {
		uint64_t key;
		if (!pf_mem_read_u64(c->r->mem,
				     table + (uint64_t)i * l->set_entry.size +
					     l->set_entry.key,
				     &key))
			return false;
		if (key == 0 || key == dummy)
			continue;
		if (shown == PF_REPR_ITEMS) {
			fputs(", ...", c->out);
			break;
		}
		fputs(shown++ ? ", " : "", c->out);
		value(c, key, depth + 1);
	}
	return true;
}

static bool dict_items(struct repr *c, uint64_t obj, int depth)
{
	struct pf_dict_iter it;
	uint64_t key, val;
	int shown = 0;
	if (!pf_dict_iter_init(&it, c->r, obj))
		return false;
	while (pf_dict_next(&it, &key, &val)) {
		if (shown == PF_REPR_ITEMS) {
			fputs(", ...", c->out);
			break;
		}
		fputs(shown++ ? ", " : "", c->out);
		value(c, key, depth + 1);
		fputs(": ", c->out);
		value(c, val, depth + 1);
	}
	return true;
}

static bool container(struct repr *c, uint64_t obj, enum container kind,
		      int depth)
{
	const struct pf_layout *l = c->r->l;
	int64_t n;
	int64_t off = kind == TUPLE  ? l->tuple.ob_size
		      : kind == LIST ? l->list.ob_size
		      : kind == DICT ? l->dict.ma_used
				     : l->set_used.used;
	if (!pf_mem_read(c->r->mem, obj + (uint64_t)off, &n, sizeof n) ||
	    n < 0)
		return false;
	static const char *const open[] = {"(", "[", "{", "{", "frozenset({"};
	static const char *const close[] = {")", "]", "}", "}", "})"};
	if (n == 0 && kind >= SET) {
		fputs(kind == SET ? "set()" : "frozenset()", c->out);
		return true;
	}
	fputs(open[kind], c->out);
	bool ok;
	if (depth >= MAX_DEPTH) {
		fputs(n > 0 ? "..." : "", c->out);
		ok = true;
	} else if (kind == TUPLE) {
		ok = sequence_items(c, obj + (uint64_t)l->tuple.ob_item, n,
				    depth);
		if (n == 1)
			fputc(',', c->out);
	} else if (kind == LIST) {
		uint64_t items;
		ok = pf_mem_read_u64(c->r->mem, obj + l->list.ob_item,
				     &items) &&
		     sequence_items(c, items, n, depth);
	} else if (kind == DICT) {
		ok = dict_items(c, obj, depth);
	} else {
		ok = set_items(c, obj, depth);
	}
	fputs(close[kind], c->out);
	if (n > PF_REPR_ITEMS || (depth >= MAX_DEPTH && n > 0))
		fprintf(c->out, " (len %lld)", (long long)n);
	return ok;
}

static bool known_value(struct repr *c, uint64_t obj, uint64_t type,
			int depth)
{
	const struct pf_object_types *t = c->types;
	const struct pf_layout *l = c->r->l;
	if (obj == t->none || obj == t->true_obj || obj == t->false_obj) {
		fputs(obj == t->none ? "None" : obj == t->true_obj ? "True"
								   : "False",
		      c->out);
		return true;
	}
	if (type == t->int_type) {
		int64_t v;
		if (!pf_mem_read(c->r->mem, obj + l->int_obj.ob_ival, &v,
				 sizeof v))
			return false;
		fprintf(c->out, "%lld", (long long)v);
		return true;
	}
	if (type == t->long_type)
		return int_repr(c, obj, l->major == 2);
	if (type == t->float_type) {
		double x;
		char text[64];
		if (!pf_mem_read(c->r->mem, obj + l->float_obj.ob_fval, &x,
				 sizeof x))
			return false;
		pf_float_repr(x, text, sizeof text);
		fputs(text, c->out);
		return true;
	}
	if (type == t->str_type)
		return text_repr(c, obj);
	if (type == t->bytes_type)
		return bytes_repr(c, obj);
	if (type == t->tuple_type)
		return container(c, obj, TUPLE, depth);
	if (type == t->list_type)
		return container(c, obj, LIST, depth);
	if (type == t->dict_type)
		return container(c, obj, DICT, depth);
	if (type == t->set_type)
		return container(c, obj, SET, depth);
	if (type == t->frozenset_type)
		return container(c, obj, FROZENSET, depth);
	return false;
}

static bool is_known(const struct pf_object_types *t, uint64_t type)
{
	return type != 0 && (type == t->int_type || type == t->long_type ||
	       type == t->float_type || type == t->str_type ||
	       type == t->bytes_type || type == t->tuple_type ||
	       type == t->list_type || type == t->dict_type ||
	       type == t->set_type || type == t->frozenset_type);
}

static void value(struct repr *c, uint64_t obj, int depth)
{
	const struct pf_object_types *t = c->types;
	uint64_t type;
	char name[64];
	if (obj == 0 ||
	    !pf_mem_read_u64(c->r->mem, obj + c->r->l->object.ob_type,
			     &type) ||
	    type == 0) {
		unreadable(c, obj);
		return;
	}
	bool singleton = obj == t->none || obj == t->true_obj ||
			 obj == t->false_obj;
	if (singleton || is_known(t, type)) {
		/* What a failed read left half written is replaced. */
		long at = ftell(c->out);
		if (known_value(c, obj, type, depth))
			return;
		fflush(c->out);
		fseek(c->out, at, SEEK_SET);
		unreadable(c, obj);
		return;
	}
	if (!type_name(c, type, name, sizeof name)) {
		unreadable(c, obj);
		return;
	}
	fprintf(c->out, "<%s object at 0x%llx>", name,
		(unsigned long long)obj);
}

char *pf_repr(const struct pf_reader *r, const struct pf_object_types *types,
	      uint64_t obj, char *type, size_t type_size)
{
	char *text = NULL;
	size_t len = 0;
	struct repr c = {r, types, open_memstream(&text, &len)};
	if (c.out == NULL)
		return NULL;
	uint64_t type_addr;
	type[0] = '\0';
	if (pf_mem_read_u64(r->mem, obj + r->l->object.ob_type, &type_addr))
		type_name(&c, type_addr, type, type_size);
	value(&c, obj, 0);
	if (fclose(c.out) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
