/* Layouts from _Py_DebugOffsets blobs recorded from real builds
 * (contrib/record-debug-offsets into tests/data/), so that versions CI does
 * not have -- 3.14, free-threaded builds, a newer alpha -- are still
 * covered. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout/layout_debug_offsets.h"
#include "layout/layout_tables.h"
#include "layout/py_layout.h"
#include "check_run.h"

struct recorded {
	const char *file;
	unsigned major, minor, micro;
	bool free_threaded;
	/* Bytes at the blob's end that are no struct's offsets (3.14's
	 * llist_node and debugger_support groups): not checked against a
	 * size, so not corrupted by test_every_offset_checked. */
	size_t unsized_tail;
};

static const struct recorded recorded[] = {
	{"debug-offsets-3.13.0.bin", 3, 13, 0, false, 0},
	/* CPython 3.14.7 built from the release source (--enable-shared),
	 * then with --disable-gil too. */
	{"debug-offsets-3.14.7.bin", 3, 14, 7, false, 8 * (2 + 6)},
	{"debug-offsets-3.14.7t.bin", 3, 14, 7, true, 8 * (2 + 6)},
	/* CPython main of late May 2025, three weeks after 3.14 branched:
	 * 3.14's _Py_DebugOffsets, read as a version newer than known. */
	{"debug-offsets-3.15.0a0.bin", 3, 15, 0, false, 8 * (2 + 6)},
	/* The same, built with --disable-gil. */
	{"debug-offsets-3.15.0a0t.bin", 3, 15, 0, true, 8 * (2 + 6)},
};
#define NRECORDED ((int)(sizeof recorded / sizeof recorded[0]))

struct blob {
	uint8_t bytes[4096];
	size_t len;
};

static void load(const struct recorded *r, struct blob *b)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", PF_TEST_DATA_DIR, r->file);
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	b->len = fread(b->bytes, 1, sizeof b->bytes, f);
	fclose(f);
	ck_assert_uint_eq(b->len, pf_debug_offsets_size(r->minor));
}

static enum pf_status parse(const struct recorded *r, const struct blob *b,
			    struct pf_layout *l, struct pf_error *err)
{
	ck_assert(pf_layout_init_version(l, r->major, r->minor, r->micro));
	return pf_layout_from_debug_offsets_blob(l, b->bytes, b->len, err);
}

/* Serves one blob at a fixed address, as /proc/PID/mem would. */
#define BLOB_ADDR 0x7f0000001000ull

static struct blob served;

static bool read_served(struct pf_mem *mem, uint64_t addr, void *buf,
			size_t len)
{
	(void)mem;
	if (addr < BLOB_ADDR || addr - BLOB_ADDR + len > served.len)
		return false;
	memcpy(buf, served.bytes + (addr - BLOB_ADDR), len);
	return true;
}

/* Every recorded build gives the walker all it needs, the header says what
 * the file name says, and the version's rules are on. */
START_TEST(test_recorded_complete)
{
	const struct recorded *r = &recorded[_i];
	struct pf_layout l;
	struct pf_error err = {0};
	const char *missing = NULL;
	load(r, &served);
	struct pf_mem mem = {.read = read_served, .fd = -1};
	uint64_t hex;
	bool ft;
	ck_assert(pf_debug_offsets_version(&mem, BLOB_ADDR, &hex, &ft));
	ck_assert_uint_eq(hex >> 24 & 0xff, r->major);
	ck_assert_uint_eq(hex >> 16 & 0xff, r->minor);
	ck_assert_int_eq(ft, r->free_threaded);

	ck_assert(pf_layout_init_version(&l, r->major, r->minor, r->micro));
	ck_assert_msg(pf_layout_from_debug_offsets(&l, &mem, BLOB_ADDR,
						   &err) == PF_OK,
		      "%s: %s", r->file, err.message);
	ck_assert_int_eq(l.source, PF_SOURCE_DEBUG_OFFSETS);
	ck_assert_msg(pf_layout_complete(&l, &missing), "%s lacks %s",
		      r->file, missing);
	ck_assert_int_eq(l.free_threaded, r->free_threaded);
	ck_assert_int_lt(l.frame.code, l.frame.size);
	ck_assert_int_lt(l.code.code_adaptive, l.code.size);
	if (r->minor >= 14) {
		/* _PyStackRef f_executable, shim frames owned by the
		 * interpreter, thread names, the C stack. */
		ck_assert_uint_eq(l.code_tag_mask, 3);
		ck_assert_int_eq(l.owner_cstack, 3);
		ck_assert(l.skip_cstack_on_top);
		ck_assert(l.thread_names);
		ck_assert(l.native_by_default);
		/* 3.14 describes sets, 3.13 does not. */
		ck_assert_int_ne(l.set.mask, PF_NO_OFFSET);
		ck_assert_int_ne(l.set.table, PF_NO_OFFSET);
	} else {
		ck_assert_uint_eq(l.code_tag_mask, 0);
		ck_assert(!l.thread_names);
		ck_assert(!l.native_by_default);
		ck_assert_int_eq(l.set.mask, PF_NO_OFFSET);
	}
	if (r->free_threaded) {
		ck_assert_int_ne(l.ft.gil_enabled, PF_NO_OFFSET);
		ck_assert_uint_eq(l.unicode.kind_shift, 8);
		ck_assert_uint_eq(l.unicode.ascii_shift, 12);
		if (r->minor >= 14) {
			ck_assert_int_lt(l.ft.tlbc_index, l.frame.size);
			ck_assert_int_lt(l.ft.co_tlbc, l.code.size);
			ck_assert_int_gt(l.ft.co_tlbc, 0);
		}
	} else {
		ck_assert_int_eq(l.ft.gil_enabled, PF_NO_OFFSET);
		ck_assert_int_eq(l.ft.tlbc_index, PF_NO_OFFSET);
		ck_assert_int_eq(l.ft.co_tlbc, PF_NO_OFFSET);
		ck_assert_uint_eq(l.unicode.kind_shift, 2);
	}
}
END_TEST

/* Every offset is checked against its struct's size: a blob with any one
 * of them corrupted is refused, naming the member. */
START_TEST(test_every_offset_checked)
{
	const struct recorded *r = &recorded[_i];
	struct blob b;
	load(r, &b);
	size_t checked_end = b.len - r->unsized_tail;
	for (size_t at = 24; at < checked_end; at += 8) {
		struct blob bad = b;
		uint64_t huge = 1ull << 40;
		memcpy(bad.bytes + at, &huge, sizeof huge);
		struct pf_layout l;
		struct pf_error err = {0};
		ck_assert_msg(parse(r, &bad, &l, &err) == PF_ERR_NO_OFFSETS,
			      "%s: a corrupt word at byte %zu was accepted",
			      r->file, at);
		ck_assert_msg(strstr(err.message, "refusing to guess"),
			      "%s, byte %zu: %s", r->file, at, err.message);
	}
}
END_TEST

/* A field the walker picks out of its copy of a frame must fit in it
 * whole: previous one byte before the end of the frame would be read
 * partly from pyfault's own memory. */
START_TEST(test_field_overhanging_refused)
{
	const struct recorded *r = &recorded[_i];
	struct blob b;
	struct pf_layout l;
	struct pf_error err = {0};
	load(r, &b);
	/* interpreter_frame: size then previous, after the header and the
	 * runtime, interpreter and thread state groups. */
	size_t groups_before = r->minor <= 13 ? 3 + 13 + 9 : 3 + 16 + 9;
	size_t at = 24 + 8 * groups_before;
	uint64_t size, previous;
	memcpy(&size, b.bytes + at, 8);
	ck_assert_int_eq(parse(r, &b, &l, &err), PF_OK);
	ck_assert_int_eq(l.frame.size, (int64_t)size);
	memcpy(&previous, b.bytes + at + 8, 8);
	ck_assert_int_eq(l.frame.back, (int64_t)previous);
	previous = size - 1;
	memcpy(b.bytes + at + 8, &previous, 8);
	ck_assert_int_eq(parse(r, &b, &l, &err), PF_ERR_NO_OFFSETS);
	ck_assert_msg(strstr(err.message, "interpreter_frame.previous"), "%s",
		      err.message);
}
END_TEST

START_TEST(test_bad_header_refused)
{
	const struct recorded *r = &recorded[_i];
	struct blob b, bad;
	struct pf_layout l;
	struct pf_error err = {0};
	load(r, &b);

	bad = b;
	bad.bytes[0] = 'X';
	ck_assert_int_eq(parse(r, &bad, &l, &err), PF_ERR_NO_OFFSETS);

	bad = b;
	bad.len = b.len - 8;
	err = (struct pf_error){0};
	ck_assert_int_eq(parse(r, &bad, &l, &err), PF_ERR_NO_OFFSETS);
	err = (struct pf_error){0};

	/* The blob of another version than the one the layout is for. */
	ck_assert(pf_layout_init_version(&l, r->major, r->minor == 13 ? 12 : 13,
					 0));
	ck_assert_int_eq(pf_layout_from_debug_offsets_blob(&l, b.bytes,
							   b.len, &err),
			 PF_ERR_NO_OFFSETS);
	ck_assert_msg(strstr(err.message, "version"), "%s", err.message);
}
END_TEST

/* The 3.13.0 blob gives exactly the offsets the shipped table row holds,
 * which were read from the same build's DWARF: the blob parser and the
 * DWARF reader agree. */
START_TEST(test_313_matches_dwarf_table)
{
	struct blob b;
	struct pf_layout from_blob, from_table;
	struct pf_error err = {0};
	load(&recorded[0], &b);
	ck_assert_int_eq(parse(&recorded[0], &b, &from_blob, &err), PF_OK);
	ck_assert(pf_layout_init_version(&from_table, 3, 13, 0));
	ck_assert_int_eq(pf_layout_from_table(&from_table, &err), PF_OK);
	ck_assert_msg(strstr(from_table.source_detail, "3.13.0"), "%s",
		      from_table.source_detail);
	/* Read sizes differ by design: whole structs here, the end of the
	 * last field read there. */
	from_blob.frame.size = from_table.frame.size;
	from_blob.code.size = from_table.code.size;
	int compared = 0;
#define SAME_(g, f)                                                           \
	if (from_blob.g.f != PF_NO_OFFSET) {                                 \
		ck_assert_msg(from_blob.g.f == from_table.g.f,               \
			      #g "." #f ": blob %lld, table %lld",           \
			      (long long)from_blob.g.f,                      \
			      (long long)from_table.g.f);                    \
		compared++;                                                  \
	}
	PF_LAYOUT_OFFSET_FIELDS(SAME_)
#undef SAME_
	ck_assert_int_ge(compared, 30);
}
END_TEST

/* A version newer than every known one is read with the newest rules. */
START_TEST(test_newer_version_rules)
{
	struct pf_layout l;
	ck_assert(pf_layout_init_version(&l, 3, PF_NEWEST_KNOWN_MINOR + 1, 0));
	ck_assert(l.thread_names);
	ck_assert_uint_eq(l.code_tag_mask, 3);
	ck_assert(!pf_layout_init_version(&l, 3, 5, 0));
	ck_assert(!pf_layout_init_version(&l, 4, 0, 0));
}
END_TEST

static Suite *debug_offsets_suite(void)
{
	Suite *s = suite_create("debug_offsets");
	TCase *tc = tcase_create("recorded");
	tcase_add_loop_test(tc, test_recorded_complete, 0, NRECORDED);
	tcase_add_loop_test(tc, test_every_offset_checked, 0, NRECORDED);
	tcase_add_loop_test(tc, test_bad_header_refused, 0, NRECORDED);
	tcase_add_loop_test(tc, test_field_overhanging_refused, 0, NRECORDED);
	tcase_add_test(tc, test_313_matches_dwarf_table);
	tcase_add_test(tc, test_newer_version_rules);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(debug_offsets_suite());
}
