/* Runs one fuzz target, without libFuzzer, on every file of the
 * directories it was built with (PF_FUZZ_DIRS, colon-separated): its seed
 * corpus and the inputs that once broke a fix in tests/data/fuzz-regressions.
 * Each input runs in its own Check test, so a crash names its file. */
#include <check.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#define MAX_INPUTS 4096
static char *inputs[MAX_INPUTS];
static int ninputs;

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return;
	for (struct dirent *e; (e = readdir(d)) && ninputs < MAX_INPUTS;) {
		char path[4096];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    strncmp(e->d_name, "README", 6) == 0)
			continue;
		inputs[ninputs++] = strdup(path);
	}
	closedir(d);
}

static void find_inputs(void)
{
	char dirs[] = PF_FUZZ_DIRS;
	for (char *dir = strtok(dirs, ":"); dir; dir = strtok(NULL, ":"))
		add_dir(dir);
	qsort(inputs, (size_t)ninputs, sizeof *inputs, by_name);
}

START_TEST(test_input)
{
	FILE *f = fopen(inputs[_i], "rb");
	ck_assert_msg(f != NULL, "cannot open %s", inputs[_i]);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	rewind(f);
	uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
	ck_assert(data != NULL);
	ck_assert(fread(data, 1, (size_t)size, f) == (size_t)size);
	fclose(f);
	LLVMFuzzerTestOneInput(data, (size_t)size);
	free(data);
}
END_TEST

START_TEST(test_has_inputs)
{
	ck_assert_msg(ninputs > 0, "no input in %s", PF_FUZZ_DIRS);
}
END_TEST

int main(void)
{
	find_inputs();
	Suite *s = suite_create("fuzz replay");
	TCase *tc = tcase_create("inputs");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_has_inputs);
	tcase_add_loop_test(tc, test_input, 0, ninputs);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (int i = 0; i < ninputs; i++)
		free(inputs[i]);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
