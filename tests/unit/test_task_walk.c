/* The task walker on the recorded 3.14.7 asyncio image, its memory
 * changed as a task list or an await chain changed during the dump, or
 * with a layout that lacks a field: the task section ends with one note
 * line, keeps what was read before, and never shows a task or frame
 * twice.  Without the offsets of asend, athrow and FutureIter objects,
 * chains end at them.  The same for the registry of 3.12.1 (asyncio.tasks'
 * WeakSet of tasks, read through sys.modules): a set table into nowhere,
 * huge sets, dead weakrefs and chains that loop. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_dump.h"
#include "image/mem_image.h"
#include "walk/py_dict.h"
#include "walk/walker.h"

#include "output_capture.h"
#include "check_run.h"

#define IMAGE PF_TEST_DATA "/py3.14.7-asyncio-built.img"
#define IMAGE_REGISTRY PF_TEST_DATA "/py3.12.1-asyncio-pyenv.img"

static struct pf_image img;

static void load_from(const char *path)
{
	struct pf_error err = {0};
	ck_assert_msg(pf_image_load(&img, path, &err) == PF_OK, "%s",
		      err.message);
	ck_assert(img.has_asyncio);
}

static void load(void)
{
	load_from(IMAGE);
}

static void load_registry(void)
{
	load_from(IMAGE_REGISTRY);
	ck_assert_int_eq(img.asyncio.model, PF_ASYNCIO_REGISTRY);
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

/* The interpreter the image's thread walk finds. */
static uint64_t interp_of(void)
{
	struct pf_mem mem;
	struct pf_target target;
	struct pf_snapshot snap;
	struct pf_error err = {0};
	pf_mem_open_image(&mem, &img);
	pf_image_target(&img, &target);
	struct pf_walk_input in = {
		.pid = img.pid,
		.mem = &mem,
		.layout = &target.layout,
		.runtime = img.runtime,
		.interp_head = target.interp_head,
		.current = PF_CURRENT_GIL_HOLDER,
	};
	ck_assert_msg(pf_walk(&in, &snap, &err) == PF_OK, "%s", err.message);
	uint64_t interp = snap.interp;
	pf_snapshot_free(&snap);
	return interp;
}

/* The set under asyncio.tasks._scheduled_tasks (a WeakSet's data), found
 * through sys.modules as the walker finds it. */
static uint64_t scheduled_set(void)
{
	struct pf_mem mem;
	pf_mem_open_image(&mem, &img);
	const struct pf_reader r = {&mem, &img.layout};
	uint64_t modules = get(interp_of() + (uint64_t)img.layout.interp.modules);
	uint64_t module = pf_dict_get(&r, modules, "asyncio.tasks");
	ck_assert_uint_ne(module, 0);
	uint64_t dict = get(module + (uint64_t)img.layout.module.md_dict);
	uint64_t weakset = pf_dict_get(&r, dict, "_scheduled_tasks");
	ck_assert_uint_ne(weakset, 0);
	uint64_t data = pf_instance_attr(&r, weakset, "data");
	ck_assert_uint_ne(data, 0);
	return data;
}

/* The i-th used slot's key in the set at set: a weakref. */
static uint64_t set_key(uint64_t set, size_t i)
{
	const struct pf_layout *l = &img.layout;
	uint64_t table = get(set + (uint64_t)l->set.table);
	uint64_t mask = get(set + (uint64_t)l->set.mask);
	for (uint64_t k = 0; k <= mask; k++) {
		uint64_t key = get(table + k * (uint64_t)l->set_entry.size +
				   (uint64_t)l->set_entry.key);
		if (key != 0 && i-- == 0)
			return key;
	}
	ck_abort_msg("the set at 0x%llx has no key %zu",
		     (unsigned long long)set, i);
	return 0;
}

START_TEST(test_registry_unchanged)
{
	load_registry();
	const char *s = section();
	ck_assert_uint_eq(count(s, "\nTask \""), 8);
	ck_assert_uint_eq(count(s, "awaited by Task \"main\""), 3);
	ck_assert_ptr_null(strstr(s, "\nNote: "));
	close_out();
	pf_image_free(&img);
}
END_TEST

/* The WeakSet's table points into nowhere, as a freed table may while
 * the set grows: no task, and the note says which set. */
START_TEST(test_registry_table_nowhere)
{
	load_registry();
	put(scheduled_set() + (uint64_t)img.layout.set.table, 0x10);
	const char *s = section();
	ck_assert_msg(strncmp(s, "\nAsyncio tasks (0):\n\nNote: cannot read "
				 "asyncio's scheduled tasks set at 0x",
			      61) == 0,
		      "%s", s);
	ck_assert_uint_eq(count(s, "\nNote: "), 1);
	close_out();
	pf_image_free(&img);
}
END_TEST

/* Two weakrefs of the WeakSet whose tasks are gone: one's referent is
 * None, as CPython leaves a dead weakref, the other's freed memory (no
 * longer mapped).  The six other tasks are shown, with no note: a dead
 * weakref is not a corrupt registry. */
START_TEST(test_registry_referent_gone)
{
	load_registry();
	const char *s = section();
	const char *loop_at = strstr(s, ", loop 0x");
	ck_assert_ptr_nonnull(loop_at);
	uint64_t loop = strtoull(loop_at + 7, NULL, 16);
	close_out();
	struct pf_mem mem;
	pf_mem_open_image(&mem, &img);
	const struct pf_reader r = {&mem, &img.layout};
	/* The loop is not running: its _thread_id is None. */
	uint64_t none = pf_instance_attr(&r, loop, "_thread_id");
	ck_assert_uint_ne(none, 0);
	uint64_t set = scheduled_set();
	const uint64_t referent = (uint64_t)img.layout.weakref.wr_object;
	put(set_key(set, 0) + referent, none);
	put(set_key(set, 1) + referent, 0x10);
	s = section();
	ck_assert_msg(strstr(s, "\nAsyncio tasks (6):\n") != NULL, "%s", s);
	ck_assert_uint_eq(count(s, "\nTask \""), 6);
	ck_assert_ptr_null(strstr(s, "\nNote: "));
	close_out();
	pf_image_free(&img);
}
END_TEST

/* A set whose mask says a trillion slots, and one just under the
 * registry's limit whose slots run past the recorded memory: a note
 * naming the set, and no task. */
START_TEST(test_registry_set_huge)
{
	static const uint64_t masks[] = {1ull << 40, (1ull << 22) - 1};
	for (size_t i = 0; i < sizeof masks / sizeof *masks; i++) {
		load_registry();
		put(scheduled_set() + (uint64_t)img.layout.set.mask, masks[i]);
		const char *s = section();
		ck_assert_msg(strstr(s, "\nAsyncio tasks (0):\n") != NULL,
			      "%s", s);
		ck_assert_msg(strstr(s, "\nNote: cannot read asyncio's "
					"scheduled tasks set at ") != NULL,
			      "%s", s);
		close_out();
		pf_image_free(&img);
	}
}
END_TEST

/* The address of the stack slot of 3.12's coroutine coro that holds what
 * it awaits (the top of its suspended frame's stack). */
static uint64_t registry_awaited_slot(uint64_t coro)
{
	const struct pf_layout *l = &img.layout;
	uint64_t frame = coro + (uint64_t)l->gen.gi_iframe;
	int32_t depth;
	memcpy(&depth, at(frame + (uint64_t)l->frame.stacktop, 4), 4);
	ck_assert_int_gt(depth, 0);
	return frame + (uint64_t)l->locals.localsplus + 8 * (uint64_t)(depth - 1);
}

/* handler-0's innermost coroutine (wait_for) awaits itself, and the task
 * "main" waits on itself (its _fut_waiter): the chain stops with a note,
 * each frame once, and main is named as a deadlock of one, once. */
START_TEST(test_registry_self_reference)
{
	load_registry();
	const char *s = section();
	const char *block = strstr(s, "\nTask \"handler-0\" (id 0x");
	ck_assert_ptr_nonnull(block);
	uint64_t task = strtoull(strstr(block, "(id 0x") + 4, NULL, 16);
	block = strstr(s, "\nTask \"main\" (id 0x");
	ck_assert_ptr_nonnull(block);
	uint64_t main_task = strtoull(strstr(block, "(id 0x") + 4, NULL, 16);
	close_out();
	uint64_t handler = get(task + (uint64_t)img.asyncio.ctask.coro);
	uint64_t fetch_user = get(registry_awaited_slot(handler));
	uint64_t wait_for = get(registry_awaited_slot(fetch_user));
	put(registry_awaited_slot(wait_for), wait_for);
	put(main_task + (uint64_t)img.asyncio.ctask.fut_waiter, main_task);
	s = section();
	ck_assert_uint_eq(count(s, "\nTask \""), 8);
	ck_assert_msg(strstr(s, "loops back") != NULL, "%s", s);
	block = strstr(s, "\nTask \"handler-0\"");
	ck_assert_ptr_nonnull(block);
	const char *next = strstr(block + 1, "\nTask \"");
	size_t frames = 0;
	for (const char *p = block; (p = strstr(p, "  File ")) &&
				    (next == NULL || p < next);
	     p++)
		frames++;
	ck_assert_uint_eq(frames, 3);
	ck_assert_msg(strstr(s, "deadlock") != NULL, "%s", s);
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
	tcase_add_test(tc, test_registry_unchanged);
	tcase_add_test(tc, test_registry_table_nowhere);
	tcase_add_test(tc, test_registry_referent_gone);
	tcase_add_test(tc, test_registry_set_huge);
	tcase_add_test(tc, test_registry_self_reference);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return pf_check_run(task_walk_suite());
}
