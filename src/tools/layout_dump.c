/* pyfault-layout: prints the layout that DWARF gives for one interpreter
 * (or, with -a, for the TaskObj of its _asyncio extension) as a row of the
 * shipped tables (src/layout/layout_tables.inc); the maintainer tool
 * behind contrib/gen-layout-tables, not installed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "elf/debuginfo.h"
#include "base/errors.h"
#include "layout/asyncio_layout.h"
#include "layout/layout_dwarf.h"
#include "layout/layout_tables.h"
#include "layout/py_layout.h"

static void usage(FILE *out)
{
	fputs("usage: pyfault-layout [-t] [-d PATH] [-p PROVENANCE] "
	      "MAJOR.MINOR ELF_FILE\n"
	      "       pyfault-layout [-d PATH] -i ELF_FILE\n"
	      "       pyfault-layout -a [-d PATH] [-p PROVENANCE] MAJOR.MINOR "
	      "ASYNCIO_ELF\n"
	      "Prints the structure offsets found in the DWARF of ELF_FILE (a\n"
	      "python executable or libpython) as a C initializer for\n"
	      "struct pf_layout_table_row.\n"
	      "  -p TEXT  the row's provenance string\n"
	      "  -t       report the extraction time on standard error\n"
	      "  -d PATH  elfutils' debuginfo path (as --debuginfo-path)\n"
	      "  -i       print the build-id and the file the DWARF is in\n"
	      "  -a       print TaskObj of a 3.11-3.13 _asyncio extension as\n"
	      "           a struct pf_asyncio_table_row initializer\n",
	      out);
}

/* A C string literal body: the provenance comes from the command line. */
static void print_c_string(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			printf("\\%03o", c);
		else
			putchar(c);
	}
	putchar('"');
}

static void print_offset(int64_t value)
{
	if (value == PF_NO_OFFSET)
		fputs("PF_NO_OFFSET", stdout);
	else
		printf("%" PRId64, value);
}

/* Every field is written out, absent ones as PF_NO_OFFSET: a designated
 * initializer would silently turn a forgotten field into offset 0. */
static void print_row(const struct pf_layout *l, const char *provenance)
{
	const char *group = "";

	printf("{\n\t.major = %u, .minor = %u,\n\t.provenance = ", l->major,
	       l->minor);
	print_c_string(provenance);
	putchar(',');
#define PRINT_OFFSET_(g, f)                                                   \
	if (strcmp(group, #g) != 0) {                                        \
		fputs("\n\t", stdout);                                       \
		group = #g;                                                  \
	} else {                                                             \
		putchar(' ');                                                \
	}                                                                    \
	fputs("." #g "_" #f " = ", stdout);                                  \
	print_offset(l->g.f);                                                \
	putchar(',');
	PF_LAYOUT_OFFSET_FIELDS(PRINT_OFFSET_)
#undef PRINT_OFFSET_
	const char *sep = "\n\t";
#define PRINT_SHIFT_(g, f)                                                    \
	printf("%s." #g "_" #f " = %u,", sep, l->g.f);                       \
	sep = " ";
	PF_LAYOUT_SHIFT_FIELDS(PRINT_SHIFT_)
#undef PRINT_SHIFT_
	fputs("\n},\n", stdout);
}

static int print_asyncio_row(unsigned major, unsigned minor,
			     const char *elf_path, const char *debuginfo_path,
			     const char *provenance)
{
	struct pf_asyncio_layout a;
	struct pf_error err = {0};
	char detail[256];
	memset(&a, 0, sizeof a);
	if (pf_asyncio_ctask_from_dwarf(elf_path, debuginfo_path, &a, detail,
					sizeof detail, &err) != PF_OK) {
		fprintf(stderr, "pyfault-layout: %s\n", err.message);
		return (int)(err.status);
	}
	printf("{\n\t.major = %u, .minor = %u,\n\t.provenance = ", major,
	       minor);
	print_c_string(provenance ? provenance : detail);
	printf(",\n\t.size = %" PRId64 ", .loop = %" PRId64
	       ", .state = %" PRId64 ", .fut_waiter = %" PRId64
	       ", .coro = %" PRId64 ", .name = %" PRId64 ",\n},\n",
	       a.ctask.size, a.ctask.loop, a.ctask.state, a.ctask.fut_waiter,
	       a.ctask.coro, a.ctask.name);
	return 0;
}

static int print_info(const char *elf_path, const char *debuginfo_path)
{
	struct pf_error err = {0};
	struct pf_debuginfo *di = pf_debuginfo_open(elf_path, debuginfo_path,
						    &err);
	if (di == NULL) {
		fprintf(stderr, "pyfault-layout: %s\n", err.message);
		return (int)(err.status);
	}
	printf("build-id %s\ndebug-file %s\n", pf_debuginfo_build_id(di),
	       pf_debuginfo_path(di));
	pf_debuginfo_close(di);
	return 0;
}

static double seconds(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now(void)
{
	return seconds(CLOCK_MONOTONIC);
}

/* CPU time: on a busy machine, what the extraction itself costs. */
static double cpu(void)
{
	return seconds(CLOCK_PROCESS_CPUTIME_ID);
}

int main(int argc, char **argv)
{
	const char *provenance = NULL, *debuginfo_path = NULL;
	int timing = 0, info = 0, asyncio = 0, opt;

	while ((opt = getopt(argc, argv, "ahitd:p:")) != -1) {
		switch (opt) {
		case 'a':
			asyncio = 1;
			break;
		case 'p':
			provenance = optarg;
			break;
		case 'd':
			debuginfo_path = optarg;
			break;
		case 't':
			timing = 1;
			break;
		case 'i':
			info = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return (int)(PF_ERR_USAGE);
		}
	}
	if (info && argc - optind == 1)
		return print_info(argv[optind], debuginfo_path);
	if (info || argc - optind != 2) {
		usage(stderr);
		return (int)(PF_ERR_USAGE);
	}

	unsigned major, minor;
	char tail;
	if (sscanf(argv[optind], "%u.%u%c", &major, &minor, &tail) != 2) {
		fprintf(stderr, "pyfault-layout: bad version '%s', want "
				"MAJOR.MINOR\n", argv[optind]);
		return (int)(PF_ERR_USAGE);
	}
	const char *elf_path = argv[optind + 1];
	if (asyncio)
		return print_asyncio_row(major, minor, elf_path,
					 debuginfo_path, provenance);

	struct pf_layout layout;
	if (!pf_layout_init_version(&layout, major, minor, 0)) {
		fprintf(stderr, "pyfault-layout: Python %u.%u is not "
				"supported\n", major, minor);
		return (int)(PF_ERR_UNSUPPORTED);
	}

	struct pf_error err = {0};
	/* Finding and opening the debug file alone (where libdw inflates
	 * compressed .debug_* sections), to tell it from reading the
	 * structs; the page cache is as warm for the full run after it. */
	double opened_cpu = 0;
	if (timing) {
		double c0 = cpu();
		pf_debuginfo_close(pf_debuginfo_open(elf_path, debuginfo_path,
						     &err));
		opened_cpu = cpu() - c0;
		err = (struct pf_error){0};
	}
	double start = now(), start_cpu = cpu();
	enum pf_status st = pf_layout_from_dwarf(&layout, elf_path,
						   debuginfo_path, &err);
	double elapsed = now() - start, elapsed_cpu = cpu() - start_cpu;
	if (st != PF_OK) {
		fprintf(stderr, "pyfault-layout: %s\n", err.message);
		return (int)(st);
	}
	if (timing)
		fprintf(stderr,
			"pyfault-layout: %s: DWARF from %s: %.1f ms wall, "
			"%.1f ms CPU; finding and opening the debug file "
			"alone %.1f ms CPU\n",
			elf_path, layout.source_detail, elapsed * 1e3,
			elapsed_cpu * 1e3, opened_cpu * 1e3);

	print_row(&layout, provenance ? provenance : layout.source_detail);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("pyfault-layout: standard output");
		return (int)(PF_ERR_INTERNAL);
	}
	return 0;
}
