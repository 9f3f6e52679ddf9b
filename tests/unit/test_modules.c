/* pf_read_extension_modules on synthetic memory: an interpreter, sys.modules,
 * sys.stdlib_module_names and their objects laid out by hand with the
 * shipped table's offsets of 3.10 (PyDictKeyEntry, dk_size-wide indices),
 * 3.11 (PyDictUnicodeEntry or PyDictKeyEntry by dk_kind, insertion order
 * before a split table's values) and 3.13 (order after the values). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout/layout_tables.h"
#include "walk/py_modules.h"
#include "layout/py_target.h"
#include "check_run.h"

#define BASE 0x100000ull
#define ARENA (1u << 20)

/* A fake target: one buffer mapped at BASE; anything else is unreadable. */
struct fake {
	struct pf_mem mem;     /* first: the read callback gets this */
	uint8_t *buf;
	size_t used;
	unsigned reads;
};

static bool fake_read(struct pf_mem *mem, uint64_t addr, void *out,
		      size_t len)
{
	struct fake *f = (struct fake *)mem;
	f->reads++;
	if (addr < BASE || addr - BASE > f->used ||
	    len > f->used - (addr - BASE))
		return false;
	memcpy(out, f->buf + (addr - BASE), len);
	return true;
}

static struct fake F;
static struct pf_target T;
static const struct pf_layout *L;
static uint64_t str_type, dict_type, int_type, module_type, module_sub,
	frozenset_type, set_type, object_type;

static uint64_t alloc(size_t n)
{
	size_t at = (F.used + 15) & ~(size_t)15;
	ck_assert_uint_le(at + n, ARENA);
	F.used = at + n;
	return BASE + at;
}

static void put(uint64_t addr, int64_t offset, const void *v, size_t n)
{
	ck_assert_int_ne(offset, PF_NO_OFFSET);
	memcpy(F.buf + (addr - BASE) + offset, v, n);
}

static void put64(uint64_t addr, int64_t offset, uint64_t v)
{
	put(addr, offset, &v, 8);
}

static void put8(uint64_t addr, int64_t offset, uint8_t v)
{
	put(addr, offset, &v, 1);
}

static uint64_t new_type(uint64_t flags, uint64_t base)
{
	uint64_t t = alloc(512);
	put64(t, L->type.tp_flags, flags);
	put64(t, L->type.tp_base, base);
	return t;
}

static uint64_t new_object(uint64_t type, size_t size)
{
	uint64_t o = alloc(size);
	put64(o, L->object.ob_type, type);
	return o;
}

/* A compact str of code points below 0x100 (kind 1). */
static uint64_t new_str(const char *s)
{
	size_t n = strlen(s);
	bool ascii = true;
	for (size_t i = 0; i < n; i++)
		ascii &= (unsigned char)s[i] < 0x80;
	int64_t header = ascii ? L->unicode.ascii_size
			       : L->unicode.compact_size;
	uint64_t o = new_object(str_type, (size_t)header + n + 1);
	int64_t length = (int64_t)n;
	put(o, L->unicode.length, &length, 8);
	uint32_t state = (1u << L->unicode.kind_shift) |
			 (1u << L->unicode.compact_shift) |
			 ((uint32_t)ascii << L->unicode.ascii_shift);
	put(o, L->unicode.state, &state, 4);
	put(o, header, s, n);
	return o;
}

/* A module; methods says whether its PyModuleDef has m_methods. */
static uint64_t new_module(uint64_t type, bool has_def, bool methods)
{
	uint64_t m = new_object(type, 128);
	if (has_def) {
		uint64_t def = alloc(128);
		put64(def, L->module_def.m_methods, methods ? def : 0);
		put64(m, L->module.md_def, def);
	}
	return m;
}

struct kv {
	uint64_t key, value;
};

enum table { COMBINED, SPLIT };

/* A dict holding kv[0..n) as entries 0..n-1.  A split table's insertion
 * order is reversed where the version keeps one (3.11+). */
static uint64_t new_dict(const struct kv *kv, int64_t n, enum table table,
			 bool general)
{
	const int64_t size = 64;  /* dk_size: 1-byte indices */
	bool unicode = L->dict_keys_general >= 0 && !general;
	int64_t entry_size = unicode ? L->dict_unicode_entry.size
				     : L->dict_entry.size;
	int64_t key_off = unicode ? L->dict_unicode_entry.me_key
				  : L->dict_entry.me_key;
	int64_t value_off = unicode ? L->dict_unicode_entry.me_value
				    : L->dict_entry.me_value;
	uint64_t keys = alloc((size_t)(L->dict_keys.dk_indices + size +
				       n * entry_size));
	if (L->dict_indices == PF_DICT_INDICES_BY_SIZE)
		put(keys, L->dict_keys.dk_size, &size, 8);
	else
		put8(keys, L->dict_keys.dk_log2_index_bytes, 6);
	if (L->dict_keys_general >= 0)
		put8(keys, L->dict_keys.dk_kind,
		     general ? 0 : table == SPLIT ? 2 : 1);
	put(keys, L->dict_keys.dk_nentries, &n, 8);
	uint64_t entries = keys + (uint64_t)(L->dict_keys.dk_indices + size);
	for (int64_t i = 0; i < n; i++) {
		put64(entries + (uint64_t)(i * entry_size), key_off, kv[i].key);
		if (table == COMBINED)
			put64(entries + (uint64_t)(i * entry_size), value_off,
			      kv[i].value);
	}

	uint64_t dict = new_object(dict_type, 64), values = 0;
	int64_t used = 0;
	for (int64_t i = 0; i < n; i++)
		used += kv[i].value != 0;
	if (table == SPLIT) {
		switch (L->dict_split) {
		case PF_DICT_SPLIT_DENSE:
			values = alloc((size_t)n * 8);
			break;
		case PF_DICT_SPLIT_ORDER_BEFORE:
			/* [-1] prefix size, [-2] used, [-3 - i] order */
			values = alloc(64 + (size_t)n * 8) + 48;
			ck_assert_int_le(n, 45);
			for (int64_t i = 0; i < n; i++)
				put8(values, -3 - i, (uint8_t)(n - 1 - i));
			break;
		case PF_DICT_SPLIT_ORDER_AFTER:
			values = alloc((size_t)(L->dict_values.values +
						n * 9));
			put8(values, L->dict_values.capacity, (uint8_t)n);
			for (int64_t i = 0; i < n; i++)
				put8(values,
				     L->dict_values.values + n * 8 + i,
				     (uint8_t)(n - 1 - i));
			break;
		}
		int64_t first = L->dict_split == PF_DICT_SPLIT_DENSE
					? 0
					: L->dict_values.values;
		for (int64_t i = 0; i < n; i++)
			put64(values, first + i * 8, kv[i].value);
	}
	put(dict, L->dict.ma_used, &used, 8);
	put64(dict, L->dict.ma_keys, keys);
	put64(dict, L->dict.ma_values, values);
	return dict;
}

/* A set whose table has 8 slots: the items, a dummy, empty slots. */
static uint64_t new_set(uint64_t type, const char *const *items, int n)
{
	uint64_t set = new_object(type, 256);
	int64_t mask = 7;
	uint64_t table = alloc(8 * (size_t)L->set_entry.size);
	uint64_t dummy = new_object(object_type, 16);
	ck_assert_int_le(n, 6);
	put64(table, L->set_entry.key, dummy);
	for (int i = 0; i < n; i++)
		put64(table + (uint64_t)((i + 2) * L->set_entry.size),
		      L->set_entry.key, new_str(items[i]));
	put(set, L->set.mask, &mask, 8);
	put64(set, L->set.table, table);
	return set;
}

static void setup_version(unsigned minor)
{
	memset(&F, 0, sizeof F);
	F.buf = calloc(1, ARENA);
	F.mem.read = fake_read;
	F.mem.fd = -1;
	memset(&T, 0, sizeof T);
	T.pid = 4242;
	T.major = 3;
	T.minor = minor;
	ck_assert(pf_layout_init_version(&T.layout, 3, minor, 0));
	struct pf_error err = {0};
	ck_assert_int_eq(pf_layout_from_table(&T.layout, &err), PF_OK);
	L = &T.layout;
	const char *missing = NULL;
	ck_assert_msg(pf_layout_modules_complete(L, &missing),
		      "3.%u row lacks %s", minor, missing);

	object_type = new_type(0, 0);
	str_type = new_type(1ull << 28, object_type);
	dict_type = new_type(1ull << 29, object_type);
	int_type = new_type(1ull << 24, object_type);
	module_type = new_type(0, object_type);
	module_sub = new_type(0, module_type);
	set_type = new_type(0, object_type);
	frozenset_type = new_type(0, object_type);
	T.module_type = module_type;
	T.frozenset_type = frozenset_type;
}

static void teardown_version(void)
{
	free(F.buf);
}

static const unsigned minors[] = {10, 11, 13};

/* An interpreter whose sys.modules holds every kind of entry. */
static uint64_t new_interp(uint64_t modules, uint64_t sysdict)
{
	uint64_t interp = alloc(16384);
	put64(interp, L->interp.modules, modules);
	put64(interp, L->interp.sysdict, sysdict);
	return interp;
}

static uint64_t sysdict_with(uint64_t stdlib_names, enum table table)
{
	struct kv kv[] = {
		{new_str("path"), new_str("/x")},
		{new_str("stdlib_module_names_"), stdlib_names},
		{new_str("stdlib_module_names"), stdlib_names},
	};
	return new_dict(kv, 3, table, false);
}

static const char *const stdlib[] = {"sys", "_io", "posix"};

/* The names, joined by ", ". */
static const char *joined(const struct pf_module_list *list)
{
	static char buf[4096];
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < list->count; i++) {
		const struct pf_text *t = &list->names[i];
		used += (size_t)snprintf(buf + used, sizeof buf - used, "%s",
					 i ? ", " : "");
		for (uint32_t j = 0; j < t->length && used + 8 < sizeof buf;
		     j++)
			used += (size_t)snprintf(buf + used, sizeof buf - used,
						 t->chars[j] < 0x80 ? "%c"
								    : "<%x>",
						 t->chars[j]);
		if (t->truncated)
			used += (size_t)snprintf(buf + used, sizeof buf - used,
						 "...");
	}
	return buf;
}

static const char *read_list(uint64_t interp, enum pf_status want)
{
	struct pf_module_list list;
	struct pf_error err = {0};
	enum pf_status st =
		pf_read_extension_modules(&F.mem, &T, interp, &list, &err);
	ck_assert_msg(st == want, "status %d (%s)", st, err.message);
	const char *s = joined(&list);
	pf_module_list_free(&list);
	return s;
}

/* Every filter of _Py_DumpExtensionModules, in dict order. */
static struct kv modules_kv[16];
static int64_t build_modules(bool general)
{
	int64_t n = 0;
	uint64_t ext = new_module(module_type, true, true);
	modules_kv[n++] = (struct kv){new_str("sys"), ext};  /* stdlib */
	modules_kv[n++] = (struct kv){new_str("pfext"), ext};
	modules_kv[n++] = (struct kv){new_str("deleted"), 0};
	modules_kv[n++] = (struct kv){new_str("pymod"),
				      new_module(module_type, false, false)};
	modules_kv[n++] = (struct kv){new_str("nomethods"),
				      new_module(module_type, true, false)};
	modules_kv[n++] = (struct kv){new_str("sub"),
				      new_module(module_sub, true, true)};
	modules_kv[n++] = (struct kv){new_str("notmodule"), new_str("x")};
	modules_kv[n++] = (struct kv){new_str("caf\xe9"), ext};
	modules_kv[n++] = (struct kv){new_str("bad"), BASE + ARENA + 4096};
	if (general)
		modules_kv[n++] = (struct kv){new_object(int_type, 32), ext};
	modules_kv[n++] = (struct kv){new_str("_io"), ext};  /* stdlib */
	return n;
}

START_TEST(test_filters_in_dict_order)
{
	setup_version(minors[_i]);
	int kinds = L->dict_keys_general >= 0 ? 2 : 1;
	for (int general = 0; general < kinds; general++) {
		int64_t n = build_modules(general);
		uint64_t modules = new_dict(modules_kv, n, COMBINED, general);
		uint64_t names = new_set(frozenset_type, stdlib, 3);
		uint64_t interp =
			new_interp(modules, sysdict_with(names, COMBINED));
		ck_assert_str_eq(read_list(interp, PF_OK),
				 "pfext, sub, caf<e9>");
	}
	teardown_version();
}
END_TEST

/* No frozenset named stdlib_module_names: nothing is excluded. */
START_TEST(test_stdlib_names_absent_or_not_frozenset)
{
	setup_version(minors[_i]);
	int64_t n = build_modules(false);
	uint64_t modules = new_dict(modules_kv, n, COMBINED, false);
	const char *all = "sys, pfext, sub, caf<e9>, _io";
	/* a plain set */
	uint64_t set = new_set(set_type, stdlib, 3);
	ck_assert_str_eq(read_list(new_interp(modules,
					      sysdict_with(set, COMBINED)),
				   PF_OK),
			 all);
	/* no sys dict */
	ck_assert_str_eq(read_list(new_interp(modules, 0), PF_OK), all);
	/* a sys dict without the name */
	struct kv kv[] = {{new_str("path"), new_str("/x")}};
	ck_assert_str_eq(read_list(new_interp(modules,
					      new_dict(kv, 1, COMBINED, false)),
				   PF_OK),
			 all);
	/* a frozenset subclass counts */
	uint64_t fs_sub = new_type(0, frozenset_type);
	uint64_t names = new_set(fs_sub, stdlib, 3);
	ck_assert_str_eq(read_list(new_interp(modules,
					      sysdict_with(names, COMBINED)),
				   PF_OK),
			 "pfext, sub, caf<e9>");
	teardown_version();
}
END_TEST

/* Split tables: values apart, in the version's insertion order. */
START_TEST(test_split_tables)
{
	setup_version(minors[_i]);
	uint64_t ext = new_module(module_type, true, true);
	struct kv kv[] = {
		{new_str("a"), ext}, {new_str("b"), ext}, {new_str("c"), ext}};
	uint64_t modules = new_dict(kv, 3, SPLIT, false);
	uint64_t names = new_set(frozenset_type, stdlib, 3);
	uint64_t interp = new_interp(modules, sysdict_with(names, SPLIT));
	/* 3.10 keeps values in entry order; later versions in an order of
	 * their own, reversed here. */
	ck_assert_str_eq(read_list(interp, PF_OK),
			 L->dict_split == PF_DICT_SPLIT_DENSE ? "a, b, c"
							      : "c, b, a");
	teardown_version();
}
END_TEST

/* Names longer than faulthandler's 500 characters are cut, and compared
 * whole. */
START_TEST(test_long_names)
{
	setup_version(minors[_i]);
	char long_name[701];
	memset(long_name, 'L', 700);
	long_name[700] = '\0';
	char other[701];
	memcpy(other, long_name, sizeof other);
	other[699] = 'M';
	uint64_t ext = new_module(module_type, true, true);
	struct kv kv[] = {{new_str(long_name), ext}, {new_str(other), ext}};
	uint64_t modules = new_dict(kv, 2, COMBINED, false);
	const char *items[] = {long_name};
	uint64_t names = new_set(frozenset_type, items, 1);
	uint64_t interp = new_interp(modules, sysdict_with(names, COMBINED));
	struct pf_module_list list;
	struct pf_error err = {0};
	ck_assert_int_eq(
		pf_read_extension_modules(&F.mem, &T, interp, &list, &err),
		PF_OK);
	ck_assert_uint_eq(list.count, 1);
	ck_assert_uint_eq(list.names[0].length, PF_MAX_STRING_LENGTH);
	ck_assert(list.names[0].truncated);
	pf_module_list_free(&list);
	teardown_version();
}
END_TEST

/* Bad pointers and corrupt sizes give fewer names, never a crash. */
START_TEST(test_corrupt_memory)
{
	setup_version(minors[_i]);
	uint64_t nowhere = BASE + ARENA + 4096;
	ck_assert_str_eq(read_list(new_interp(0, 0), PF_OK), "");
	ck_assert_str_eq(read_list(new_interp(nowhere, nowhere), PF_OK), "");
	/* sys.modules is not a dict */
	ck_assert_str_eq(read_list(new_interp(new_str("x"), 0), PF_OK), "");
	ck_assert_str_eq(read_list(0, PF_OK), "");

	uint64_t ext = new_module(module_type, true, true);
	struct kv kv[] = {{new_str("a"), ext}, {new_str("b"), ext}};
	uint64_t modules = new_dict(kv, 2, COMBINED, false);
	uint64_t interp = new_interp(modules, 0);
	/* dk_nentries far past the entries: reading stops at the end of
	 * memory, after at most PF_MAX_DICT_ENTRIES entries. */
	uint64_t keys;
	memcpy(&keys, F.buf + (modules - BASE) + L->dict.ma_keys, 8);
	int64_t huge = INT64_MAX;
	put(keys, L->dict_keys.dk_nentries, &huge, 8);
	F.reads = 0;
	ck_assert_str_eq(read_list(interp, PF_OK), "a, b");
	ck_assert_uint_lt(F.reads, 100000);
	int64_t negative = -1;
	put(keys, L->dict_keys.dk_nentries, &negative, 8);
	ck_assert_str_eq(read_list(interp, PF_OK), "");

	/* a tp_base loop */
	uint64_t loop = new_type(0, 0);
	put64(loop, L->type.tp_base, loop);
	struct kv looped[] = {{new_str("x"), new_module(loop, true, true)}};
	interp = new_interp(new_dict(looped, 1, COMBINED, false), 0);
	ck_assert_str_eq(read_list(interp, PF_OK), "");

	/* a set whose mask is negative, or whose table is nowhere: no
	 * names to exclude */
	uint64_t names = new_set(frozenset_type, stdlib, 3);
	int64_t mask = -5;
	put(names, L->set.mask, &mask, 8);
	struct kv one[] = {{new_str("sys"), ext}};
	interp = new_interp(new_dict(one, 1, COMBINED, false),
			    sysdict_with(names, COMBINED));
	ck_assert_str_eq(read_list(interp, PF_OK), "sys");
	names = new_set(frozenset_type, stdlib, 3);
	put64(names, L->set.table, nowhere);
	interp = new_interp(new_dict(one, 1, COMBINED, false),
			    sysdict_with(names, COMBINED));
	ck_assert_str_eq(read_list(interp, PF_OK), "sys");
	teardown_version();
}
END_TEST

/* A version without the line gives nothing; a layout without the offsets
 * says which is missing. */
START_TEST(test_versions_and_missing_offsets)
{
	setup_version(13);
	struct pf_module_list list;
	struct pf_error err = {0};
	T.layout.set.mask = PF_NO_OFFSET;
	ck_assert_int_eq(pf_read_extension_modules(&F.mem, &T, BASE + 64,
						   &list, &err),
			 PF_ERR_NO_OFFSETS);
	ck_assert_ptr_nonnull(strstr(err.message, "set.mask"));
	ck_assert_ptr_nonnull(strstr(err.message, "Extension modules"));
	ck_assert_uint_eq(list.count, 0);
	teardown_version();

	setup_version(12);
	T.frozenset_type = 0;
	err = (struct pf_error){0};
	ck_assert_int_eq(pf_read_extension_modules(&F.mem, &T, BASE + 64,
						   &list, &err),
			 PF_ERR_NO_OFFSETS);
	ck_assert_ptr_nonnull(strstr(err.message, "PyFrozenSet_Type"));
	teardown_version();

	struct pf_target old = {.pid = 1};
	ck_assert(pf_layout_init_version(&old.layout, 3, 9, 0));
	ck_assert(!old.layout.extension_modules_trailer);
	ck_assert_int_eq(pf_read_extension_modules(&F.mem, &old, BASE, &list,
						   &err),
			 PF_OK);
	ck_assert_uint_eq(list.count, 0);
}
END_TEST

static Suite *modules_suite(void)
{
	Suite *s = suite_create("modules");
	TCase *tc = tcase_create("extension modules");
	int n = (int)(sizeof minors / sizeof minors[0]);
	tcase_add_loop_test(tc, test_filters_in_dict_order, 0, n);
	tcase_add_loop_test(tc, test_stdlib_names_absent_or_not_frozenset, 0,
			    n);
	tcase_add_loop_test(tc, test_split_tables, 0, n);
	tcase_add_loop_test(tc, test_long_names, 0, n);
	tcase_add_loop_test(tc, test_corrupt_memory, 0, n);
	tcase_add_test(tc, test_versions_and_missing_offsets);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(modules_suite());
}
