/* What the command lines of pyfault-attach, -watch and -core share: the
 * output options, --help, --version, getopt's error reports, and how the
 * output file is opened. */
#ifndef PYFAULT_CLI_COMMON_H
#define PYFAULT_CLI_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dump/target_dump.h"
#include "format/task_format.h"

enum pf_output_format {
	PF_FORMAT_TEXT,   /* faulthandler's text */
	PF_FORMAT_JSON,   /* one JSON document per dump (dump_json.h) */
};

struct pf_cli_common {
	const char *output;
	bool current_thread_only;
	bool main_interpreter_only;  /* --main-interpreter-only */
	bool locals;                 /* --locals */
	bool verbose;
	const char *debuginfo_path;  /* --debuginfo-path; NULL: elfutils' */
	bool no_cache;               /* --no-cache */
	enum pf_native_view native;  /* --native[=merged], --no-native */
	bool status;      /* --status: the thread status header */
	enum pf_tasks_view tasks;    /* --tasks[=tree] */
	enum pf_output_format format;
	bool help;
	bool version;
};

/* getopt_long values of the shared long options; a command numbers its
 * own from PF_OPT_OWN. */
enum {
	PF_OPT_CURRENT = 0x100,
	PF_OPT_HELP,
	PF_OPT_VERSION,
	PF_OPT_DEBUGINFO_PATH,
	PF_OPT_NO_CACHE,
	PF_OPT_NATIVE,
	PF_OPT_NO_NATIVE,
	PF_OPT_STATUS,
	PF_OPT_FORMAT,
	PF_OPT_TASKS,
	PF_OPT_MAIN_INTERPRETER,
	PF_OPT_LOCALS,
	PF_OPT_OWN,
};

/* getopt's option string for a command whose own short options are own:
 * "+" ends the options at the first operand, ":" tells a missing argument
 * from an unknown option. */
#define PF_CLI_OPTSTRING(own) "+:" own "o:v"
#define PF_CLI_LONG_OPTIONS                                                   \
	{"output", required_argument, NULL, 'o'},                            \
	{"current-thread-only", no_argument, NULL, PF_OPT_CURRENT},          \
	{"main-interpreter-only", no_argument, NULL,                         \
	 PF_OPT_MAIN_INTERPRETER},                                           \
	{"locals", no_argument, NULL, PF_OPT_LOCALS},                        \
	{"verbose", no_argument, NULL, 'v'},                                 \
	{"debuginfo-path", required_argument, NULL, PF_OPT_DEBUGINFO_PATH},  \
	{"no-cache", no_argument, NULL, PF_OPT_NO_CACHE},                    \
	{"help", no_argument, NULL, PF_OPT_HELP},                            \
	{"version", no_argument, NULL, PF_OPT_VERSION},                      \
	{"native", optional_argument, NULL, PF_OPT_NATIVE},                  \
	{"no-native", no_argument, NULL, PF_OPT_NO_NATIVE},                  \
	{"status", no_argument, NULL, PF_OPT_STATUS},                        \
	{"format", required_argument, NULL, PF_OPT_FORMAT},                  \
	{"tasks", optional_argument, NULL, PF_OPT_TASKS}

/* Takes one of the command's own options (getopt_long's c and optarg);
 * false with a one-line reason in why when its argument is wrong. */
typedef bool (*pf_cli_own_option)(int c, const char *arg, void *ctx,
				  char *why, size_t why_size);

enum pf_cli_result {
	PF_CLI_OPERANDS,  /* options done: the operands start at *first */
	PF_CLI_DONE,      /* --help or --version: nothing else to parse */
	PF_CLI_ERROR,     /* why says what is wrong */
};

/* Parses the options of argv: the shared ones into common, the others
 * through own.  Operands must follow: without any, "missing OPERAND" (the
 * name of the first) is an error. */
enum pf_cli_result pf_cli_parse(int argc, char **argv, const char *optstring,
				const struct option *longopts,
				struct pf_cli_common *common,
				pf_cli_own_option own, void *ctx,
				const char *operand, int *first, char *why,
				size_t why_size);

/* What every command does right after parsing: report a usage error, or
 * answer --help or --version.  Returns the exit status when the command
 * is done, or -1 when it goes on. */
int pf_cli_early_exit(const char *prog, bool parsed, const char *why,
		      const struct pf_cli_common *common,
		      const char *usage_text);

/* The stream of -o FILE (path), or dflt without -o.  FILE is appended to,
 * so an earlier dump is never lost; created 0600; a symbolic link planted
 * in a shared directory is not followed.  NULL after a one-line error on
 * stderr. */
FILE *pf_cli_output(const char *prog, const char *path, FILE *dflt);

/* Gives out, when it is no terminal, a buffer that holds a large dump
 * whole: a few writes instead of one per 4 KiB.  A terminal keeps its
 * line buffering. */
void pf_cli_buffer_output(FILE *out);

/* --offsets=SOURCE of pyfault-attach and pyfault-core into *sources;
 * false with why filled for an unknown source. */
bool pf_cli_parse_offsets(const char *arg, unsigned *sources, char *why,
			  size_t why_size);

#endif
