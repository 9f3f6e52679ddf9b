/* The task walker on the recorded 3.14.7 asyncio image, its memory
 * changed as a task list or an await chain changed during the dump, or
 * with a layout that lacks a field: the task section ends with one note
 * line, keeps what was read before, and never shows a task or frame
 * twice.  Without the offsets of asend, athrow and FutureIter objects,
 * chains end at them. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_dump.h"
#include "image/mem_image.h"

#include "output_capture.h"
#include "check_run.h"

#define IMAGE PF_TEST_DATA "/py3.14.7-asyncio-built.img"

static struct pf_image img;

static void load(void)
{
	struct pf_error err = {0};
	ck_assert_msg(pf_image_load(&img, IMAGE, &err) == PF_OK, "%s",
		      err.message);
	ck_assert(img.has_asyncio);
}

/* The image's bytes at addr (its recorded memory is the test's to
 * change). */
static uint8_t *at(uint64_t addr, size_t len)
{
	for (size_t i = 0; i < img.nranges; i++) {
		const struct pf_image_range *r = &img.ranges[i];
		if (addr >= r->addr && addr - r->addr + len <= r->len)
			return (uint8_t *)(uintptr_t)r->bytes + (addr - r->addr);
	}
	ck_abort_msg("0x%llx is not in the image", (unsigned long long)addr);
	return NULL;
}

static uint64_t get(uint64_t addr)
{
	uint64_t v;
	memcpy(&v, at(addr, 8), 8);
	return v;
}

static void put(uint64_t addr, uint64_t v)
{
	memcpy(at(addr, 8), &v, 8);
}

/* The task section of the image's dump. */
static const char *section(void)
{
	struct pf_error err = {0};
	open_out();
	ck_assert_msg(pf_image_dump(&img, out, &err) == PF_OK, "%s",
		      err.message);
	const char *s = strstr(output(), "\nAsyncio tasks (");
	ck_assert_ptr_nonnull(s);
	return s;
}

static size_t count(const char *s, const char *what)
{
	size_t n = 0;
	for (const char *p = s; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

/* The id of the i-th task the section shows (the list's order). */
static uint64_t task_id(const char *s, size_t i)
{
	const char *p = s;
	for (size_t k = 0; k <= i; k++) {
		p = strstr(p + 1, "\nTask \"");
		ck_assert_ptr_nonnull(p);
	}
	p = strstr(p, "(id 0x");
	ck_assert_ptr_nonnull(p);
	return strtoull(p + 4, NULL, 16);
}

START_TEST(test_unchanged)
{
	load();
	const char *s = section();
	ck_assert_uint_eq(count(s, "\nTask \""), 9);
	ck_assert_ptr_null(strstr(s, "\nNote: "));
	close_out();
	pf_image_free(&img);
}
END_TEST

/* The second task's node points at itself, as a node being unlinked or
 * moved may when the list is read meanwhile. */
START_TEST(test_list_changed)
{
	load();
	uint64_t second = task_id(section(), 1);
	close_out();
	uint64_t node = second + (uint64_t)img.asyncio.task.node;
	put(node + (uint64_t)img.layout.coro.llist_next, node);
	const char *s = section();
	ck_assert_uint_eq(count(s, "\nTask \""), 2);
	ck_assert_msg(strstr(s, "\nAsyncio tasks (2):\n") != NULL, "%s", s);
	ck_assert_msg(strstr(s, "changed or is corrupt") != NULL, "%s", s);
	ck_assert_uint_eq(count(s, "\nNote: "), 1);
	close_out();
	pf_image_free(&img);
}
END_TEST

/* The address of the slot at the top of coro's suspended frame: what it
 * awaits. */
static uint64_t awaited_slot(uint64_t coro)
{
	uint64_t frame = coro + (uint64_t)img.layout.coro.gi_iframe;
	return get(frame + (uint64_t)img.layout.coro.stackpointer) - 8;
}

/* handler-0's chain is handler, fetch_user, wait_for: wait_for now
 * awaits fetch_user.  The chain keeps the three frames, each once, and a
 * note; the other tasks are all there. */
START_TEST(test_chain_loops)
{
	load();
	const char *s = section();
	uint64_t task = task_id(s, 1);   /* handler-0 */
	close_out();
	uint64_t handler = get(task + (uint64_t)img.asyncio.task.coro);
	uint64_t fetch_user = get(awaited_slot(handler)) &
			      ~img.layout.code_tag_mask;
	uint64_t wait_for = get(awaited_slot(fetch_user)) &
			    ~img.layout.code_tag_mask;
	put(awaited_slot(wait_for), fetch_user);
	s = section();
	ck_assert_uint_eq(count(s, "\nTask \""), 9);
	ck_assert_msg(strstr(s, "loops back") != NULL, "%s", s);
	const char *block = strstr(s, "\nTask \"handler-0\"");
	ck_assert_ptr_nonnull(block);
	const char *next = strstr(block + 1, "\nTask \"");
	size_t frames = 0;
	for (const char *p = block; (p = strstr(p, "  File ")) && p < next;
	     p++)
		frames++;
	ck_assert_uint_eq(frames, 3);
	close_out();
	pf_image_free(&img);
}
END_TEST

START_TEST(test_layout_lacks_field)
{
	load();
	img.layout.coro.stackpointer = PF_NO_OFFSET;
	const char *s = section();
	ck_assert_str_eq(s, "\nAsyncio tasks (0):\n\nNote: asyncio tasks not "
			    "shown: the offsets of this build lack "
			    "interpreter_frame.stackpointer\n");
	close_out();
	pf_image_free(&img);
}
END_TEST

/* A build whose DWARF does not say where asend, athrow and FutureIter
 * objects point: the chains end at those objects, named. */
START_TEST(test_awaitables_unknown)
{
	load();
	img.awaits = PF_AWAIT_LAYOUT_NONE;
	const char *s = section();
	ck_assert_msg(strstr(s, "line 49 in consume\n  awaits "
				"async_generator_asend object at ") != NULL,
		      "%s", s);
	ck_assert_msg(strstr(s, "line 61 in close_it\n  awaits "
				"async_generator_athrow object at ") != NULL,
		      "%s", s);
	ck_assert_msg(strstr(s, "line 33 in wait_for\n  awaits "
				"_asyncio.FutureIter object at ") != NULL,
		      "%s", s);
	ck_assert_ptr_null(strstr(s, "in ticker"));
	ck_assert_ptr_null(strstr(s, "\nNote: "));
	close_out();
	pf_image_free(&img);
}
END_TEST

static Suite *task_walk_suite(void)
{
	Suite *s = suite_create("task_walk");
	TCase *tc = tcase_create("task_walk");
	tcase_add_test(tc, test_unchanged);
	tcase_add_test(tc, test_list_changed);
	tcase_add_test(tc, test_chain_loops);
	tcase_add_test(tc, test_layout_lacks_field);
	tcase_add_test(tc, test_awaitables_unknown);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(task_walk_suite());
}
