#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image_dump.h"
#include "image/mem_image.h"
#include "image/mem_recorder.h"

/* Every recorded image of tests/data, sorted by name. */
#define MAX_IMAGES 64
static char *images[MAX_IMAGES];
static int nimages;

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void find_images(void)
{
	DIR *dir = opendir(PF_TEST_DATA);
	if (dir == NULL)
		return;
	for (struct dirent *e; (e = readdir(dir)) && nimages < MAX_IMAGES;) {
		size_t n = strlen(e->d_name);
		if (n > 4 && strcmp(e->d_name + n - 4, ".img") == 0) {
			images[nimages] = malloc(sizeof PF_TEST_DATA + n + 1);
			sprintf(images[nimages++], "%s/%s", PF_TEST_DATA,
				e->d_name);
		}
	}
	closedir(dir);
	qsort(images, (size_t)nimages, sizeof *images, by_name);
}

/* The walker and formatter, replayed on the image, print what pyfault
 * printed from the live process when the image was recorded. */
START_TEST(test_replay)
{
	struct pf_image img;
	struct pf_error err = {0};
	ck_assert_msg(pf_image_load(&img, images[_i], &err) == PF_OK, "%s: %s",
		      images[_i], err.message);
	ck_assert_msg(img.text_len > 0, "%s records no text", images[_i]);
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	ck_assert_msg(pf_image_dump(&img, out, &err) == PF_OK, "%s: %s",
		      images[_i], err.message);
	fclose(out);
	ck_assert_msg(len == img.text_len && memcmp(text, img.text, len) == 0,
		      "%s: replayed\n%s\nrecorded\n%.*s", images[_i], text,
		      (int)img.text_len, img.text);
	free(text);
	pf_image_free(&img);
}
END_TEST

/* Each supported version has a recorded image, 3.14 from a real 3.14.7
 * build with and without the GIL; each from 3.11 one with asyncio tasks
 * (3.11-3.13 through the registry, 3.14 through the task lists). */
START_TEST(test_every_version_recorded)
{
	bool seen[15] = {false}, seen_314t = false, tasks[15] = {false};
	for (int i = 0; i < nimages; i++) {
		struct pf_image img;
		struct pf_error err = {0};
		if (pf_image_load(&img, images[i], &err) != PF_OK)
			continue;
		if (img.major == 3 && img.minor <= 14)
			seen[img.minor] = true;
		seen_314t |= img.major == 3 && img.minor == 14 &&
			     img.layout.free_threaded;
		if (img.major == 3 && img.minor <= 14 && img.has_asyncio &&
		    img.asyncio.model == (img.minor >= 14
						  ? PF_ASYNCIO_TASK_LISTS
						  : PF_ASYNCIO_REGISTRY) &&
		    memmem(img.text, img.text_len, "\nAsyncio tasks (", 16))
			tasks[img.minor] = true;
		pf_image_free(&img);
	}
	for (unsigned minor = 11; minor <= 14; minor++)
		ck_assert_msg(tasks[minor],
			      "no image of Python 3.%u with asyncio tasks in %s",
			      minor, PF_TEST_DATA);
	for (unsigned minor = 8; minor <= 14; minor++)
		ck_assert_msg(seen[minor], "no image of Python 3.%u in %s",
			      minor, PF_TEST_DATA);
	ck_assert_msg(seen_314t, "no image of Python 3.14t in %s",
		      PF_TEST_DATA);
}
END_TEST

/* A small image built by recording reads of another image. */
static const uint8_t first[] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint8_t second[] = {9, 10, 11, 12};

static struct pf_image two_ranges(void)
{
	static struct pf_image_range ranges[] = {
		{0x10000, sizeof first, first},
		{0x10008, sizeof second, second},  /* adjacent to first */
	};
	struct pf_image img = {.nranges = 2, .ranges = ranges};
	return img;
}

START_TEST(test_reads_outside_fail)
{
	struct pf_image img = two_ranges();
	struct pf_mem mem;
	uint8_t buf[12];
	pf_mem_open_image(&mem, &img);
	ck_assert(pf_mem_read(&mem, 0x10000, buf, 12));
	ck_assert_int_eq(buf[8], 9);
	ck_assert(pf_mem_read(&mem, 0x10006, buf, 4));
	ck_assert_int_eq(buf[0], 7);
	ck_assert_int_eq(buf[3], 10);
	ck_assert(!pf_mem_read(&mem, 0x10000, buf, 13));
	ck_assert(!pf_mem_read(&mem, 0xffff, buf, 2));
	ck_assert(!pf_mem_read(&mem, 0x1000c, buf, 1));
}
END_TEST

START_TEST(test_recorder_merges)
{
	struct pf_image img = two_ranges();
	struct pf_mem inner, mem;
	struct pf_mem_recorder rec;
	uint8_t buf[12];
	pf_mem_open_image(&inner, &img);
	pf_mem_open_recorder(&mem, &rec, &inner);
	ck_assert(pf_mem_read(&mem, 0x1000a, buf, 2));
	ck_assert(pf_mem_read(&mem, 0x10002, buf, 4));
	ck_assert(pf_mem_read(&mem, 0x10004, buf, 6));
	ck_assert(!pf_mem_read(&mem, 0x20000, buf, 1));
	ck_assert_int_eq(rec.count, 3);

	struct pf_image copy = {0};
	ck_assert(pf_mem_recorder_ranges(&rec, &copy));
	ck_assert_int_eq(copy.nranges, 1);
	ck_assert_uint_eq(copy.ranges[0].addr, 0x10002);
	ck_assert_int_eq(copy.ranges[0].len, 10);
	ck_assert_int_eq(copy.ranges[0].bytes[0], 3);
	ck_assert_int_eq(copy.ranges[0].bytes[9], 12);
	free(copy.ranges);
	free(copy.owned);
	pf_mem_recorder_free(&rec);
}
END_TEST

/* img written out and parsed back into back (from *buf, to free). */
static void rewrite(const struct pf_image *img, struct pf_image *back,
		    char **buf)
{
	struct pf_error err = {0};
	size_t len = 0;
	FILE *out = open_memstream(buf, &len);
	ck_assert(pf_image_write(out, img));
	fclose(out);
	ck_assert_msg(pf_image_parse(back, (uint8_t *)*buf, len, &err) ==
			      PF_OK,
		      "%s", err.message);
}

/* What pf_image_write writes, pf_image_parse reads back, the asyncio
 * layout of either model too. */
START_TEST(test_round_trip)
{
	struct pf_image img, back;
	struct pf_error err = {0};
	char *buf = NULL;
	ck_assert(pf_image_load(&img, images[_i], &err) == PF_OK);
	rewrite(&img, &back, &buf);
	ck_assert(memcmp(&back.layout, &img.layout, sizeof img.layout) == 0);
	ck_assert_uint_eq(back.runtime, img.runtime);
	ck_assert_int_eq(back.nranges, img.nranges);
	ck_assert_int_eq(back.text_len, img.text_len);
	ck_assert_int_eq(back.has_asyncio, img.has_asyncio);
	ck_assert(memcmp(&back.asyncio, &img.asyncio, sizeof img.asyncio) ==
		  0);
	ck_assert(memcmp(&back.awaits, &img.awaits, sizeof img.awaits) == 0);
	pf_image_free(&back);
	free(buf);
	pf_image_free(&img);
}
END_TEST

/* A 3.11-3.13 image whose TaskObj field lies outside the struct, or
 * whose model is unknown, keeps its threads and loses its tasks, as an
 * _AsyncioDebug section that fails its checks does. */
START_TEST(test_bad_task_layout_dropped)
{
	struct pf_image img, back;
	struct pf_error err = {0};
	ck_assert(pf_image_load(&img, PF_TEST_DATA
				"/py3.12.1-asyncio-pyenv.img", &err) == PF_OK);
	ck_assert(img.has_asyncio);
	const struct pf_asyncio_layout good = img.asyncio;
	for (int bad = 0; bad < 3; bad++) {
		char *buf = NULL;
		img.asyncio = good;
		if (bad == 0)
			img.asyncio.ctask.coro = good.ctask.size - 4;
		else if (bad == 1)
			img.asyncio.ctask.state = -8;
		else
			img.asyncio.model = 7;
		rewrite(&img, &back, &buf);
		ck_assert_msg(!back.has_asyncio, "bad layout %d kept", bad);
		pf_image_free(&back);
		free(buf);
	}
	pf_image_free(&img);
}
END_TEST

START_TEST(test_bad_files_refused)
{
	struct pf_image img;
	struct pf_error err = {0};
	static const uint8_t not_image[] = "PFIMAGX\0\1\0\0\0";
	ck_assert(pf_image_parse(&img, not_image, sizeof not_image, &err) ==
		  PF_ERR_BAD_MEMORY);
	static const uint8_t future[] = "PFIMAGE\0\2\0\0\0";
	err = (struct pf_error){0};
	ck_assert(pf_image_parse(&img, future, 12, &err) == PF_ERR_UNSUPPORTED);
	static const uint8_t no_values[] = "PFIMAGE\0\1\0\0\0";
	err = (struct pf_error){0};
	ck_assert(pf_image_parse(&img, no_values, 12, &err) ==
		  PF_ERR_BAD_MEMORY);
	static const uint8_t truncated[] = "PFIMAGE\0\1\0\0\0VALS\xff\0\0\0";
	err = (struct pf_error){0};
	ck_assert(pf_image_parse(&img, truncated, sizeof truncated - 1, &err) ==
		  PF_ERR_BAD_MEMORY);
}
END_TEST

int main(void)
{
	find_images();
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("image");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_replay, 0, nimages);
	tcase_add_test(tc, test_every_version_recorded);
	tcase_add_test(tc, test_reads_outside_fail);
	tcase_add_test(tc, test_recorder_merges);
	tcase_add_loop_test(tc, test_round_trip, 0, nimages);
	tcase_add_test(tc, test_bad_task_layout_dropped);
	tcase_add_test(tc, test_bad_files_refused);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (int i = 0; i < nimages; i++)
		free(images[i]);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
