/* What the command lines of pyfault-attach and pyfault-watch share: the
 * output options, --help, --version, getopt's error reports, and how the
 * output file is opened. */
#ifndef PYFAULT_CLI_COMMON_H
#define PYFAULT_CLI_COMMON_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct pf_cli_common {
	const char *output;
	bool current_thread_only;
	bool verbose;
	bool help;
	bool version;
};

/* getopt_long values of the shared long options; a command numbers its
 * own from PF_OPT_OWN. */
enum {
	PF_OPT_CURRENT = 0x100,
	PF_OPT_HELP,
	PF_OPT_VERSION,
	PF_OPT_OWN,
};

#define PF_CLI_SHORT_OPTIONS "o:v"
#define PF_CLI_LONG_OPTIONS                                                   \
	{"output", required_argument, NULL, 'o'},                            \
	{"current-thread-only", no_argument, NULL, PF_OPT_CURRENT},          \
	{"verbose", no_argument, NULL, 'v'},                                 \
	{"help", no_argument, NULL, PF_OPT_HELP},                            \
	{"version", no_argument, NULL, PF_OPT_VERSION}

enum pf_cli_result {
	PF_CLI_OTHER,     /* not a shared option: the command's own */
	PF_CLI_TAKEN,
	PF_CLI_DONE,      /* --help or --version: stop parsing */
	PF_CLI_ERROR,     /* why says what is wrong */
};

/* Handles getopt_long's answer c if it is a shared option or an error.
 * getopt must have been started with ":" so that a missing argument is
 * told apart. */
enum pf_cli_result pf_cli_option(int c, char **argv,
				 struct pf_cli_common *common, char *why,
				 size_t why_size);

/* What every command does right after parsing: report a usage error, or
 * answer --help or --version.  Returns the exit status when the command
 * is done, or -1 when it goes on. */
int pf_cli_early_exit(const char *prog, bool parsed, const char *why,
		      const struct pf_cli_common *common,
		      const char *usage_text);

/* Opens FILE for -o: appended, so an earlier dump is never lost; created
 * 0600; a symbolic link planted in a shared directory is not followed.
 * NULL with errno set on failure. */
FILE *pf_cli_open_output(const char *path);

#endif
