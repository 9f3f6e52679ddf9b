/* The walker on a hand-made interpreter in fake memory: the current thread
 * is found past faulthandler's 100 threads, a faulting thread without a
 * thread state is kept for its C stack, and a thread list that loops ends
 * the search with an error rather than a hang. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "layout/layout_tables.h"
#include "layout/py_layout.h"
#include "walk/walker.h"
#include "check_run.h"

#define BASE 0x10000ull
#define INTERP (BASE + 0x100)
#define TSTATES (BASE + 0x1000)
#define TSTATE_SIZE 0x400ull
#define NTSTATES 150
#define HEAD BASE /* the pointer to the newest interpreter */

static uint8_t memory[0x1000 + NTSTATES * TSTATE_SIZE];
static struct pf_layout layout;

static bool read_fake(struct pf_mem *mem, uint64_t addr, void *buf,
		      size_t len)
{
	(void)mem;
	if (addr < BASE || addr - BASE + len > sizeof memory)
		return false;
	memcpy(buf, memory + (addr - BASE), len);
	return true;
}

static void put(uint64_t addr, uint64_t value)
{
	memcpy(memory + (addr - BASE), &value, sizeof value);
}

static uint64_t tstate(int i)
{
	return TSTATES + (uint64_t)i * TSTATE_SIZE;
}

static uint64_t thread_id(int i)
{
	return 0x7f0000000000ull + (uint64_t)i;
}

/* NTSTATES thread states, newest first, none with a frame; the last one
 * (the main thread) points to next_of_last. */
static void setup(void)
{
	ck_assert(pf_layout_init_version(&layout, 3, 13, 0));
	struct pf_error err = {0};
	ck_assert_int_eq(pf_layout_from_table(&layout, &err), PF_OK);
	memset(memory, 0, sizeof memory);
	put(HEAD, INTERP);
	put(INTERP + (uint64_t)layout.interp.threads_head, tstate(0));
	for (int i = 0; i < NTSTATES; i++) {
		put(tstate(i) + (uint64_t)layout.tstate.interp, INTERP);
		put(tstate(i) + (uint64_t)layout.tstate.thread_id,
		    thread_id(i));
		put(tstate(i) + (uint64_t)layout.tstate.next,
		    i + 1 < NTSTATES ? tstate(i + 1) : 0);
	}
}

static enum pf_status walk(uint64_t current_id, struct pf_snapshot *snap,
			   struct pf_error *err)
{
	struct pf_mem mem = {.read = read_fake, .fd = -1};
	struct pf_walk_input in = {
		.pid = 1,
		.mem = &mem,
		.layout = &layout,
		.runtime = BASE,
		.interp_head = HEAD,
		.current = PF_CURRENT_THREAD,
		.current_thread_id = current_id,
		.dumper_tid = 4242,
	};
	return pf_walk(&in, snap, err);
}

START_TEST(test_current_past_the_limit)
{
	struct pf_snapshot snap;
	struct pf_error err = {0};
	ck_assert_int_eq(walk(thread_id(NTSTATES - 1), &snap, &err), PF_OK);
	ck_assert_uint_eq(snap.nthreads, PF_MAX_NTHREADS);
	ck_assert(snap.threads_truncated);
	for (size_t i = 0; i < snap.nthreads; i++)
		ck_assert(!snap.threads[i].is_current);
	const struct pf_thread_dump *t = pf_snapshot_current_python(&snap);
	ck_assert_ptr_eq(t, &snap.outside);
	ck_assert_uint_eq(t->thread_id, thread_id(NTSTATES - 1));
	pf_snapshot_free(&snap);

	/* Among the first 100: no thread outside. */
	ck_assert_int_eq(walk(thread_id(3), &snap, &err), PF_OK);
	ck_assert(!snap.has_outside);
	ck_assert_ptr_eq(pf_snapshot_current(&snap), &snap.threads[3]);
	pf_snapshot_free(&snap);
}
END_TEST

START_TEST(test_faulting_thread_without_state)
{
	struct pf_snapshot snap;
	struct pf_error err = {0};
	ck_assert_int_eq(walk(0x1234, &snap, &err), PF_OK);
	const struct pf_thread_dump *t = pf_snapshot_current(&snap);
	ck_assert_ptr_eq(t, &snap.outside);
	ck_assert(t->no_tstate);
	ck_assert_int_eq(t->tid, 4242);
	ck_assert_ptr_null(pf_snapshot_current_python(&snap));
	pf_snapshot_free(&snap);
}
END_TEST

START_TEST(test_looping_list_refused)
{
	put(tstate(NTSTATES - 1) + (uint64_t)layout.tstate.next, tstate(50));
	struct pf_snapshot snap;
	struct pf_error err = {0};
	ck_assert_int_eq(walk(0x1234, &snap, &err), PF_ERR_BAD_MEMORY);
	ck_assert_msg(strstr(err.message, "loops"), "%s", err.message);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("walker");
	TCase *tc = tcase_create("current thread");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_current_past_the_limit);
	tcase_add_test(tc, test_faulting_thread_without_state);
	tcase_add_test(tc, test_looping_list_refused);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
