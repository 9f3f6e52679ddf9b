#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "walk/linetable.h"
#include "linetable_vectors.h"
#include "check_run.h"

#define NVECTORS (sizeof linetable_vectors / sizeof linetable_vectors[0])

/* Every code unit of a real function maps to the line its own interpreter
 * reports. */
START_TEST(test_real_tables)
{
	const struct linetable_vector *v = &linetable_vectors[_i];
	for (size_t unit = 0; unit < v->units; unit++) {
		int line = pf_line_number(v->kind, (const uint8_t *)v->table,
					  v->table_len, v->firstlineno,
					  (int)unit * v->unit_bytes);
		ck_assert_msg(line == v->lines[unit],
			      "vector %d, unit %zu: got %d, expected %d", _i,
			      unit, line, v->lines[unit]);
	}
}
END_TEST

static bool is_lnotab(enum pf_line_table kind)
{
	return kind == PF_LINES_LNOTAB || kind == PF_LINES_LNOTAB_UNSIGNED;
}

/* A frame that has not run yet (f_lasti -1, prev_instr before the first
 * unit) is on its first line. */
START_TEST(test_not_started)
{
	const struct linetable_vector *v = &linetable_vectors[_i];
	int addr = is_lnotab(v->kind) ? -1 : -2;
	ck_assert_int_eq(pf_line_number(v->kind, (const uint8_t *)v->table,
					 v->table_len, v->firstlineno, addr),
			 v->firstlineno);
}
END_TEST

/* Past the end of the table, 3.10+ answer -1 (printed ???) and never read
 * beyond it; lnotab keeps the last line. */
START_TEST(test_past_end)
{
	const struct linetable_vector *v = &linetable_vectors[_i];
	int line = pf_line_number(v->kind, (const uint8_t *)v->table,
				  v->table_len, v->firstlineno, 1 << 20);
	if (is_lnotab(v->kind))
		ck_assert_int_eq(line, v->lines[v->units - 1]);
	else
		ck_assert_int_eq(line, -1);
}
END_TEST

/* Truncated tables (a corrupt or changing target) are read in bounds: run
 * under valgrind or ASan this catches any overrun. */
START_TEST(test_truncated_tables)
{
	const struct linetable_vector *v = &linetable_vectors[_i];
	for (size_t len = 0; len < v->table_len; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		memcpy(copy, v->table, len);
		for (size_t unit = 0; unit < v->units; unit++)
			(void)pf_line_number(v->kind, copy, len,
					     v->firstlineno,
					     (int)unit * v->unit_bytes);
		free(copy);
	}
}
END_TEST

/* 2.7 writes a line step of 128-255 as one unsigned byte; 3.6+ would
 * read the same byte as a step back. */
START_TEST(test_lnotab_signedness)
{
	const uint8_t table[] = {0, 1, 4, 200};
	ck_assert_int_eq(pf_line_number(PF_LINES_LNOTAB_UNSIGNED, table, 4, 10,
					4),
			 211);
	ck_assert_int_eq(pf_line_number(PF_LINES_LNOTAB, table, 4, 10, 4),
			 -45);
}
END_TEST

START_TEST(test_pep626_no_line)
{
	/* 3.10: a line delta of -128 marks instructions without a line. */
	const uint8_t table[] = {4, 1, 2, 0x80, 2, 1};
	ck_assert_int_eq(pf_line_number(PF_LINES_PEP626, table, 6, 10, 0), 11);
	ck_assert_int_eq(pf_line_number(PF_LINES_PEP626, table, 6, 10, 4), -1);
	ck_assert_int_eq(pf_line_number(PF_LINES_PEP626, table, 6, 10, 6), 12);
}
END_TEST

START_TEST(test_locations_long_form)
{
	/* 3.11+: a long entry (code 14) with a signed varint line delta of
	 * -3 (zigzag 7), then a no-location entry (code 15). */
	const uint8_t table[] = {0xf0 | 1, 7, 0, 1, 1, 0xf8};
	ck_assert_int_eq(pf_line_number(PF_LINES_LOCATIONS, table, 6, 20, 0),
			 17);
	ck_assert_int_eq(pf_line_number(PF_LINES_LOCATIONS, table, 6, 20, 2),
			 17);
	ck_assert_int_eq(pf_line_number(PF_LINES_LOCATIONS, table, 6, 20, 4),
			 -1);
}
END_TEST

static Suite *linetable_suite(void)
{
	Suite *s = suite_create("linetable");
	TCase *tc = tcase_create("decode");
	tcase_add_loop_test(tc, test_real_tables, 0, NVECTORS);
	tcase_add_loop_test(tc, test_not_started, 0, NVECTORS);
	tcase_add_loop_test(tc, test_past_end, 0, NVECTORS);
	tcase_add_loop_test(tc, test_truncated_tables, 0, NVECTORS);
	tcase_add_test(tc, test_lnotab_signedness);
	tcase_add_test(tc, test_pep626_no_line);
	tcase_add_test(tc, test_locations_long_form);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(linetable_suite());
}
