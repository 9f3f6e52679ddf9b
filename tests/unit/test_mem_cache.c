/* The page cache of a live target's memory (process/mem_cache.c) against
 * the target's memory itself: a child forked after the test filled a
 * mapping holds the same bytes as the test's own copy, which is the
 * oracle; a page unmapped in the middle is unreadable in both. */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "process/mem_cache.h"
#include "process/remote_mem.h"
#include "check_run.h"

#define PAGES 8
#define HOLE 5   /* the page unmapped in the child and here */

static uint8_t *region;
static pid_t child;
static int go[2], done[2];
static long page;

/* The child rewrites the first page when told to, then waits until the
 * test ends: it holds no write end of go, so the test's end, however it
 * ends, gives it EOF and it exits rather than staying behind. */
static void child_main(void)
{
	char byte;
	close(go[1]);
	close(done[0]);
	if (read(go[0], &byte, 1) == 1) {
		memset(region, 0xab, (size_t)page);
		if (write(done[1], "d", 1) != 1)
			_exit(2);
		while (read(go[0], &byte, 1) > 0)
			;
	}
	_exit(0);
}

static void setup(void)
{
	page = sysconf(_SC_PAGESIZE);
	region = mmap(NULL, PAGES * (size_t)page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(region, MAP_FAILED);
	for (size_t i = 0; i < PAGES * (size_t)page; i++)
		region[i] = (uint8_t)(i * 7 + i / 4096);
	ck_assert_int_eq(munmap(region + HOLE * page, (size_t)page), 0);
	ck_assert_int_eq(pipe(go), 0);
	ck_assert_int_eq(pipe(done), 0);
	child = fork();
	/* Before any check of the child: each one writes to Check's message
	 * file, which the child shares (CK_FORK=no under valgrind). */
	if (child == 0)
		child_main();
	ck_assert_int_ge(child, 0);
}

static void teardown(void)
{
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
}

static bool in_hole(size_t off, size_t len)
{
	size_t hole = HOLE * (size_t)page;
	return off < hole + (size_t)page && off + len > hole;
}

START_TEST(cached_reads_match_memory)
{
	struct pf_mem mem;
	ck_assert_int_eq(pf_mem_open_live(&mem, child), 0);
	pf_mem_cache_begin(&mem);
	uint8_t buf[3 * 4096];
	/* Ranges inside a page, across pages, and into the hole. */
	for (size_t off = 0; off < PAGES * (size_t)page; off += 997) {
		for (size_t len = 1; len <= sizeof buf; len *= 5) {
			if (off + len > PAGES * (size_t)page)
				break;
			bool ok = pf_mem_read(&mem, (uintptr_t)region + off,
					      buf, len);
			ck_assert_int_eq(ok, !in_hole(off, len));
			if (ok)
				ck_assert_int_eq(memcmp(buf, region + off, len),
						 0);
		}
	}
	pf_mem_close(&mem);
}
END_TEST

START_TEST(each_page_read_once)
{
	struct pf_mem mem;
	uint8_t buf[100];
	ck_assert_int_eq(pf_mem_open_live(&mem, child), 0);
	pf_mem_cache_begin(&mem);
	/* Pages 0-3 in 100-byte pieces, from the top down as a walk goes. */
	for (size_t off = 4 * (size_t)page - sizeof buf;; off -= sizeof buf) {
		ck_assert(pf_mem_read(&mem, (uintptr_t)region + off, buf,
				      sizeof buf));
		ck_assert_int_eq(memcmp(buf, region + off, sizeof buf), 0);
		if (off < sizeof buf)
			break;
	}
	ck_assert_uint_le(mem.reads, 4);
	pf_mem_close(&mem);
}
END_TEST

START_TEST(prefetch_skips_what_it_cannot_read)
{
	struct pf_mem mem;
	uint8_t buf[64];
	ck_assert_int_eq(pf_mem_open_live(&mem, child), 0);
	pf_mem_cache_begin(&mem);
	uint64_t addrs[PAGES];
	for (size_t i = 0; i < PAGES; i++)
		addrs[i] = (uintptr_t)region + i * (size_t)page + 8;
	pf_mem_prefetch(&mem, addrs, PAGES);
	unsigned long after_prefetch = mem.reads;
	for (size_t i = 0; i < PAGES; i++) {
		bool ok = pf_mem_read(&mem, addrs[i], buf, sizeof buf);
		ck_assert_int_eq(ok, i != HOLE);
		if (ok)
			ck_assert_int_eq(
				memcmp(buf, region + i * (size_t)page + 8,
				       sizeof buf),
				0);
	}
	/* Only the hole is asked again. */
	ck_assert_uint_le(mem.reads - after_prefetch, 2);
	pf_mem_close(&mem);
}
END_TEST

START_TEST(a_new_walk_reads_again)
{
	struct pf_mem mem;
	uint8_t before, after;
	char byte;
	ck_assert_int_eq(pf_mem_open_live(&mem, child), 0);
	pf_mem_cache_begin(&mem);
	ck_assert(pf_mem_read(&mem, (uintptr_t)region, &before, 1));
	ck_assert_int_eq(before, region[0]);
	ck_assert_int_eq(write(go[1], "g", 1), 1);
	ck_assert_int_eq(read(done[0], &byte, 1), 1);
	/* The cache begun again forgets what the target has changed. */
	pf_mem_cache_begin(&mem);
	ck_assert(pf_mem_read(&mem, (uintptr_t)region, &after, 1));
	ck_assert_int_eq(after, 0xab);
	pf_mem_close(&mem);
}
END_TEST

/* More pages than the cache keeps (64 MiB): those past it are read
 * uncached, and every read still gives the target's bytes.  The test reads
 * its own memory, untouched pages but for a mark in each. */
START_TEST(reads_past_the_cache_stay_exact)
{
	const size_t pages = 16384 + 64, big = pages * (size_t)page;
	uint8_t *many = mmap(NULL, big, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			     0);
	ck_assert_ptr_ne(many, MAP_FAILED);
	for (size_t i = 0; i < pages; i++)
		many[i * (size_t)page + i % 64] = (uint8_t)(i | 1);
	struct pf_mem mem;
	ck_assert_int_eq(pf_mem_open_live(&mem, getpid()), 0);
	pf_mem_cache_begin(&mem);
	for (size_t i = 0; i < pages; i++) {
		uint8_t pair[2];
		size_t at = i * (size_t)page + i % 64;
		ck_assert(pf_mem_read(&mem, (uintptr_t)many + at, pair, 2));
		ck_assert_int_eq(pair[0], (uint8_t)(i | 1));
		ck_assert_int_eq(pair[1], 0);
	}
	pf_mem_close(&mem);
	munmap(many, big);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mem_cache");
	TCase *tc = tcase_create("live");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cached_reads_match_memory);
	tcase_add_test(tc, each_page_read_once);
	tcase_add_test(tc, prefetch_skips_what_it_cannot_read);
	tcase_add_test(tc, a_new_walk_reads_again);
	tcase_add_test(tc, reads_past_the_cache_stay_exact);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
