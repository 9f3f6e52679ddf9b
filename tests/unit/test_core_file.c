/* The core reader on tests/data/core/seed/tiny-segv.core, the core of a
 * static program without libc that faults at once
 * (contrib/make-seed-core): its notes, its memory from the core and from
 * the mapped file under a sysroot, its objects through libdwfl, and cut
 * or foreign files. */
#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corefile/core_file.h"
#include "corefile/core_input.h"
#include "corefile/core_modules.h"
#include "elf/dw_lib.h"
#include "check_run.h"

#define CORE PF_TEST_DATA "/core/seed/tiny-segv.core"
#define ROOT PF_TEST_DATA "/core/root"
#define EXE "/tmp/pyfault-seed/tiny"

static struct pf_core core;
static struct pf_error err;

static void open_seed(const char *sysroot)
{
	memset(&err, 0, sizeof err);
	ck_assert_msg(pf_core_open(&core, CORE, "seed", sysroot, &err) ==
			      PF_OK,
		      "%s", err.message);
}

START_TEST(test_notes)
{
	open_seed(NULL);
	ck_assert_uint_eq(core.nthreads, 1);
	ck_assert_int_eq(core.threads[0].tid, core.pid);
	ck_assert_int_eq(core.threads[0].cursig, SIGSEGV);
	ck_assert(core.has_siginfo);
	ck_assert_int_eq(core.siginfo.si_signo, SIGSEGV);
	ck_assert_int_eq(core.siginfo.si_code, SEGV_MAPERR);
	ck_assert_ptr_null(core.siginfo.si_addr);
	ck_assert_str_eq(core.fname, "tiny");
	ck_assert_str_eq(core.executable, EXE);
	ck_assert_uint_eq(core.missing_bytes, 0);
	/* A program without libc has no thread pointer. */
	ck_assert_uint_eq(core.threads[0].pthread_id, 0);
	ck_assert_str_eq(core.psargs, "./tiny ");
	struct pf_thread_status status = {0};
	pf_core_thread_status(&core, core.pid, &status);
	ck_assert(status.collected);
	ck_assert_str_eq(status.name, "tiny");
	ck_assert_int_eq(status.state, PF_STATE_RUNNING);
	pf_core_close(&core);
}
END_TEST

/* The executable's first page is in the core (ELF headers); its text is
 * not, and comes from the file under the sysroot. */
START_TEST(test_memory)
{
	open_seed(ROOT);
	const struct pf_mapping *m = pf_maps_find(&core.maps, EXE);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(m->perms, "r--p");
	struct pf_mem mem;
	pf_mem_open_core(&mem, &core);
	Elf64_Ehdr eh;
	ck_assert(pf_mem_read(&mem, m->start, &eh, sizeof eh));
	ck_assert(memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0);
	ck_assert_int_eq(eh.e_type, ET_EXEC);
	/* _start's code, read through the core and from the file. */
	uint8_t from_core[16], from_file[16];
	ck_assert(pf_mem_read(&mem, eh.e_entry, from_core, sizeof from_core));
	int fd = open(ROOT EXE, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert(pread(fd, from_file, sizeof from_file,
			(off_t)(eh.e_entry - 0x400000)) ==
		  (ssize_t)sizeof from_file);
	close(fd);
	ck_assert(memcmp(from_core, from_file, sizeof from_core) == 0);
	/* A read from the dumped headers on into the text, which only the
	 * file has, succeeds; past the file's end or where nothing is
	 * mapped, reads fail. */
	const struct pf_mapping *text = NULL;
	for (size_t i = 0; i < core.maps.count; i++)
		if (core.maps.items[i].perms[2] == 'x' &&
		    core.maps.items[i].path)
			text = &core.maps.items[i];
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(text->start, m->end);
	uint8_t buf[32];
	ck_assert(pf_mem_read(&mem, text->start - 16, buf, sizeof buf));
	ck_assert(!pf_mem_read(&mem, text->end - 16, buf, sizeof buf));
	ck_assert(!pf_mem_read(&mem, 0x1000, buf, 8));
	pf_core_close(&core);
	/* Without the sysroot the text is missing: the read fails. */
	open_seed("/nonexistent-root");
	pf_mem_open_core(&mem, &core);
	ck_assert(pf_mem_read(&mem, 0x400000, &eh, 4));
	ck_assert(!pf_mem_read(&mem, eh.e_entry, from_core, 4));
	pf_core_close(&core);
}
END_TEST

/* libdwfl finds the executable, and its file under the sysroot has the
 * core's build-id; another file at its place is refused, naming both. */
START_TEST(test_build_ids)
{
	open_seed(ROOT);
	Dwfl *dwfl = pf_core_dwfl(&core, NULL, &err);
	ck_assert_msg(dwfl != NULL, "%s", err.message);
	ck_assert_int_eq(pf_core_check_build_ids(dwfl, &core, &err), PF_OK);
	pf_dw.dwfl_end(dwfl);
	core.executable_file = CORE;
	dwfl = pf_core_dwfl(&core, NULL, &err);
	ck_assert_ptr_nonnull(dwfl);
	ck_assert_int_eq(pf_core_check_build_ids(dwfl, &core, &err),
			 PF_ERR_WRONG_FILE);
	ck_assert_ptr_nonnull(strstr(err.message, "build-id"));
	pf_dw.dwfl_end(dwfl);
	pf_core_close(&core);
}
END_TEST

static char *copy_of_seed(long keep)
{
	static char path[] = "/tmp/pyfault-test-core-XXXXXX";
	strcpy(path, "/tmp/pyfault-test-core-XXXXXX");
	int out = mkstemp(path);
	FILE *in = fopen(CORE, "rb");
	ck_assert(out >= 0 && in != NULL);
	char buf[4096];
	size_t n;
	long done = 0;
	while ((n = fread(buf, 1, sizeof buf, in)) > 0 && done < keep) {
		if ((long)n > keep - done)
			n = (size_t)(keep - done);
		ck_assert(write(out, buf, n) == (ssize_t)n);
		done += (long)n;
	}
	fclose(in);
	close(out);
	return path;
}

/* Cut after its notes: what is left is read, and how much is missing
 * told; cut inside them: refused. */
START_TEST(test_truncated)
{
	char *path = copy_of_seed(0x8000);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(pf_core_open(&core, path, "cut", NULL, &err), PF_OK);
	ck_assert_uint_gt(core.missing_bytes, 0);
	struct pf_mem mem;
	pf_mem_open_core(&mem, &core);
	uint8_t magic[4];
	ck_assert(pf_mem_read(&mem, 0x400000, magic, 4));
	pf_core_close(&core);
	unlink(path);
	path = copy_of_seed(600);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(pf_core_open(&core, path, "cut", NULL, &err),
			 PF_ERR_BAD_CORE);
	pf_core_close(&core);
	unlink(path);
}
END_TEST

START_TEST(test_not_a_core)
{
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(pf_core_open(&core, ROOT EXE, "exe", NULL, &err),
			 PF_ERR_BAD_CORE);
	ck_assert_ptr_nonnull(strstr(err.message, "not an ELF core"));
	pf_core_close(&core);
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(pf_core_open(&core, PF_TEST_DATA "/nothing-here",
				      "missing", NULL, &err),
			 PF_ERR_USAGE);
	pf_core_close(&core);
}
END_TEST

/* A plain file is read in place, without a copy. */
START_TEST(test_input_plain)
{
	struct pf_core_input in;
	memset(&err, 0, sizeof err);
	ck_assert_int_eq(pf_core_input_open(&in, CORE, &err), PF_OK);
	ck_assert_str_eq(in.read_path, CORE);
	ck_assert_int_eq(in.fd, -1);
	ck_assert_ptr_null(in.format);
	pf_core_input_close(&in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("core_file");
	TCase *tc = tcase_create("seed core");
	tcase_add_test(tc, test_notes);
	tcase_add_test(tc, test_memory);
	tcase_add_test(tc, test_build_ids);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_not_a_core);
	tcase_add_test(tc, test_input_plain);
	suite_add_tcase(s, tc);
	return pf_check_run(s);
}
