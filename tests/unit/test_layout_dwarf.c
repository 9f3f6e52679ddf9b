/* The shipped offset table, and DWARF extraction checked against it.
 *
 * With PYFAULT_TEST_LIBPYTHON=<ELF with DWARF> and PYFAULT_TEST_PYVERSION=3.X
 * the DWARF of that interpreter must give exactly the table's row for 3.X
 * (e.g. Debian's /usr/bin/python3.11 with python3.11-dbg installed). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layout/layout_dwarf.h"
#include "layout/layout_tables.h"
#include "layout/py_layout.h"
#include "check_run.h"

/* Marks the bit positions so a test can tell DWARF really set them. */
#define SHIFT_SENTINEL 99u

static const struct pf_layout_table_row *row_at(int i)
{
	size_t count;
	const struct pf_layout_table_row *rows = pf_layout_table_rows(&count);
	ck_assert_uint_lt((size_t)i, count);
	return &rows[i];
}

static int row_count(void)
{
	size_t count;
	pf_layout_table_rows(&count);
	return (int)count;
}

static const struct pf_layout_table_row *row_for(unsigned major,
						 unsigned minor)
{
	size_t count;
	const struct pf_layout_table_row *rows = pf_layout_table_rows(&count);
	for (size_t i = 0; i < count; i++)
		if (rows[i].major == major && rows[i].minor == minor)
			return &rows[i];
	return NULL;
}

/* Every row gives the walker all it needs for its version. */
START_TEST(test_row_complete)
{
	const struct pf_layout_table_row *row = row_at(_i);
	struct pf_layout l;
	const char *missing = NULL;

	ck_assert_msg(pf_layout_init_version(&l, row->major, row->minor, 0),
		      "row %u.%u: version not supported", row->major,
		      row->minor);
	struct pf_error err = {0};
	ck_assert_int_eq(pf_layout_from_table(&l, &err), PF_OK);
	ck_assert_msg(pf_layout_complete(&l, &missing),
		      "row %u.%u lacks %s", row->major, row->minor,
		      missing ? missing : "?");
	ck_assert_msg(pf_layout_modules_complete(&l, &missing),
		      "row %u.%u lacks %s for the Extension modules line",
		      row->major, row->minor, missing ? missing : "?");
	ck_assert_int_eq(l.source, PF_SOURCE_TABLE);
	ck_assert_str_eq(l.source_detail, row->provenance);
	ck_assert_uint_gt(strlen(row->provenance), 0);
	ck_assert_uint_lt(strlen(row->provenance), sizeof l.source_detail);

	/* The read sizes cover the fields read through them. */
	const int64_t frame_fields[] = {l.frame.back, l.frame.code,
					l.frame.lasti, l.frame.lineno,
					l.frame.instr, l.frame.owner};
	for (size_t i = 0; i < sizeof frame_fields / sizeof *frame_fields;
	     i++)
		if (frame_fields[i] != PF_NO_OFFSET)
			ck_assert_int_lt(frame_fields[i], l.frame.size);
	const int64_t code_fields[] = {l.code.filename, l.code.name,
				       l.code.firstlineno, l.code.linetable,
				       l.code.code_adaptive};
	for (size_t i = 0; i < sizeof code_fields / sizeof *code_fields; i++)
		if (code_fields[i] != PF_NO_OFFSET)
			ck_assert_int_lt(code_fields[i], l.code.size);
	ck_assert_uint_lt(l.unicode.kind_shift, 32);
	ck_assert_uint_lt(l.unicode.compact_shift, 32);
	ck_assert_uint_lt(l.unicode.ascii_shift, 32);
}
END_TEST

/* One row per version, so a lookup cannot depend on the order. */
START_TEST(test_rows_unique)
{
	for (int i = 0; i < row_count(); i++)
		for (int j = i + 1; j < row_count(); j++)
			ck_assert_msg(row_at(i)->major != row_at(j)->major ||
					      row_at(i)->minor !=
						      row_at(j)->minor,
				      "two rows for %u.%u", row_at(i)->major,
				      row_at(i)->minor);
}
END_TEST

/* Versions before 3.13 have no _Py_DebugOffsets: without DWARF, the table
 * is all there is (3.11's row serves Debian's stripped python3). */
START_TEST(test_rows_cover_supported)
{
	ck_assert_msg(row_for(2, 7) != NULL, "no row for 2.7");
	for (unsigned minor = 6; minor <= 12; minor++)
		ck_assert_msg(row_for(3, minor) != NULL, "no row for 3.%u",
			      minor);
}
END_TEST

START_TEST(test_table_unknown_version)
{
	struct pf_layout l;
	ck_assert(pf_layout_init_version(&l, 3, 8, 0));
	l.minor = 5;
	struct pf_error err = {0};
	ck_assert_int_eq(pf_layout_from_table(&l, &err), PF_ERR_NO_OFFSETS);
	ck_assert_int_eq(err.status, PF_ERR_NO_OFFSETS);
	ck_assert_int_eq(l.runtime.interpreters_head, PF_NO_OFFSET);
	ck_assert_int_eq(l.source, PF_SOURCE_NONE);
}
END_TEST

static void assert_unchanged(const struct pf_layout *a,
			     const struct pf_layout *b)
{
#define SAME_(g, f) ck_assert_msg(a->g.f == b->g.f, #g "." #f " changed");
	PF_LAYOUT_OFFSET_FIELDS(SAME_)
	PF_LAYOUT_SHIFT_FIELDS(SAME_)
#undef SAME_
	ck_assert_int_eq(a->source, b->source);
}

/* A failure explains itself and leaves the layout for the next source. */
START_TEST(test_dwarf_missing_file)
{
	struct pf_layout l, before;
	ck_assert(pf_layout_init_version(&l, 3, 11, 0));
	before = l;
	struct pf_error err = {0};
	ck_assert_int_eq(pf_layout_from_dwarf(&l, "/nonexistent/python3.11",
					      NULL, &err),
			 PF_ERR_NO_OFFSETS);
	ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/python3.11"));
	assert_unchanged(&l, &before);
}
END_TEST

/* An ELF that is no CPython: whether or not the test binary has DWARF,
 * it defines none of the interpreter's structs. */
START_TEST(test_dwarf_not_python)
{
	struct pf_layout l, before;
	ck_assert(pf_layout_init_version(&l, 3, 12, 0));
	before = l;
	struct pf_error err = {0};
	ck_assert_int_eq(pf_layout_from_dwarf(&l, "/proc/self/exe", NULL, &err),
			 PF_ERR_NO_OFFSETS);
	ck_assert_uint_gt(strlen(err.message), 0);
	assert_unchanged(&l, &before);
}
END_TEST

START_TEST(test_dwarf_matches_table)
{
	const char *elf = getenv("PYFAULT_TEST_LIBPYTHON");
	const char *version = getenv("PYFAULT_TEST_PYVERSION");
	unsigned major, minor;

	if (elf == NULL || elf[0] == '\0' || version == NULL ||
	    sscanf(version, "%u.%u", &major, &minor) != 2) {
		printf("test_layout_dwarf: skipping the DWARF comparison: set "
		       "PYFAULT_TEST_LIBPYTHON to an ELF with DWARF and "
		       "PYFAULT_TEST_PYVERSION to its 3.X\n");
		return;
	}
	const struct pf_layout_table_row *row = row_for(major, minor);
	ck_assert_msg(row != NULL, "no table row for %u.%u", major, minor);

	struct pf_layout l;
	ck_assert(pf_layout_init_version(&l, major, minor, 0));
	l.unicode.kind_shift = SHIFT_SENTINEL;
	l.unicode.compact_shift = SHIFT_SENTINEL;
	l.unicode.ascii_shift = SHIFT_SENTINEL;
	struct pf_error err = {0};
	ck_assert_msg(pf_layout_from_dwarf(&l, elf, NULL, &err) == PF_OK, "%s",
		      err.message);
	ck_assert_int_eq(l.source, PF_SOURCE_DWARF);
	ck_assert_uint_gt(strlen(l.source_detail), 0);

#define SAME_AS_ROW_(g, f)                                                   \
	ck_assert_msg(l.g.f == row->g##_##f,                                 \
		      #g "." #f ": DWARF of %s gives %lld, the table %lld",  \
		      elf, (long long)l.g.f, (long long)row->g##_##f);
	PF_LAYOUT_OFFSET_FIELDS(SAME_AS_ROW_)
	PF_LAYOUT_SHIFT_FIELDS(SAME_AS_ROW_)
#undef SAME_AS_ROW_
}
END_TEST

static Suite *layout_suite(void)
{
	Suite *s = suite_create("layout_dwarf");
	TCase *table = tcase_create("table");
	tcase_add_loop_test(table, test_row_complete, 0, row_count());
	tcase_add_test(table, test_rows_unique);
	tcase_add_test(table, test_rows_cover_supported);
	tcase_add_test(table, test_table_unknown_version);
	suite_add_tcase(s, table);

	TCase *dwarf = tcase_create("dwarf");
	/* Reading a compressed debug file under valgrind or a sanitizer
	 * takes longer than Check's default 4 s. */
	tcase_set_timeout(dwarf, 60);
	tcase_add_test(dwarf, test_dwarf_missing_file);
	tcase_add_test(dwarf, test_dwarf_not_python);
	tcase_add_test(dwarf, test_dwarf_matches_table);
	suite_add_tcase(s, dwarf);
	return s;
}

int main(void)
{
	return pf_check_run(layout_suite());
}
