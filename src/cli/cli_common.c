#include "cli/cli_common.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errors.h"
#include "format/json_lib.h"
#include "layout/py_layout.h"

/* The shared options and getopt's errors; false for a command's own. */
static bool common_option(int c, char **argv, struct pf_cli_common *common,
			  enum pf_cli_result *result, char *why,
			  size_t why_size)
{
	switch (c) {
	case 'o':
		common->output = optarg;
		return true;
	case 'v':
		common->verbose = true;
		return true;
	case PF_OPT_CURRENT:
		common->current_thread_only = true;
		return true;
	case PF_OPT_MAIN_INTERPRETER:
		common->main_interpreter_only = true;
		return true;
	case PF_OPT_LOCALS:
		common->locals = true;
		return true;
	case PF_OPT_DEBUGINFO_PATH:
		common->debuginfo_path = optarg;
		return true;
	case PF_OPT_NO_CACHE:
		common->no_cache = true;
		return true;
	case PF_OPT_NATIVE:
		if (optarg == NULL || strcmp(optarg, "section") == 0) {
			common->native = PF_NATIVE_SECTION;
		} else if (strcmp(optarg, "merged") == 0) {
			common->native = PF_NATIVE_MERGED;
		} else {
			snprintf(why, why_size,
				 "unknown --native value '%s' (section or "
				 "merged)",
				 optarg);
			*result = PF_CLI_ERROR;
		}
		return true;
	case PF_OPT_NO_NATIVE:
		common->native = PF_NATIVE_NONE;
		return true;
	case PF_OPT_STATUS:
		common->status = true;
		return true;
	case PF_OPT_TASKS:
		if (optarg == NULL || strcmp(optarg, "list") == 0) {
			common->tasks = PF_TASKS_LIST;
		} else if (strcmp(optarg, "tree") == 0) {
			common->tasks = PF_TASKS_TREE;
		} else {
			snprintf(why, why_size,
				 "unknown --tasks value '%s' (list or tree)",
				 optarg);
			*result = PF_CLI_ERROR;
		}
		return true;
	case PF_OPT_FORMAT:
		if (strcmp(optarg, "text") == 0) {
			common->format = PF_FORMAT_TEXT;
		} else if (strcmp(optarg, "json") == 0) {
			common->format = PF_FORMAT_JSON;
		} else {
			snprintf(why, why_size,
				 "unknown format '%s' (text or json)", optarg);
			*result = PF_CLI_ERROR;
		}
		return true;
	case PF_OPT_HELP:
		common->help = true;
		*result = PF_CLI_DONE;
		return true;
	case PF_OPT_VERSION:
		common->version = true;
		*result = PF_CLI_DONE;
		return true;
	case ':':
		snprintf(why, why_size, "option '%s' needs an argument",
			 argv[optind - 1]);
		*result = PF_CLI_ERROR;
		return true;
	case '?':
		snprintf(why, why_size, "invalid option '%s'",
			 argv[optind - 1]);
		*result = PF_CLI_ERROR;
		return true;
	default:
		return false;
	}
}

enum pf_cli_result pf_cli_parse(int argc, char **argv, const char *optstring,
				const struct option *longopts,
				struct pf_cli_common *common,
				pf_cli_own_option own, void *ctx,
				const char *operand, int *first, char *why,
				size_t why_size)
{
	/* getopt keeps its position in globals: start afresh every call. */
	optind = 0;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		enum pf_cli_result result = PF_CLI_OPERANDS;
		if (common_option(c, argv, common, &result, why, why_size)) {
			if (result != PF_CLI_OPERANDS)
				return result;
		} else if (!own(c, optarg, ctx, why, why_size)) {
			return PF_CLI_ERROR;
		}
	}
	if (optind >= argc) {
		snprintf(why, why_size, "missing %s", operand);
		return PF_CLI_ERROR;
	}
	*first = optind;
	return PF_CLI_OPERANDS;
}

int pf_cli_early_exit(const char *prog, bool parsed, const char *why,
		      const struct pf_cli_common *common,
		      const char *usage_text)
{
	if (!parsed) {
		fprintf(stderr,
			"%s: %s\nTry '%s --help' for more information.\n",
			prog, why, prog);
		return PF_ERR_USAGE;
	}
	if (common->help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (common->version) {
		printf("%s %s\n", prog, PACKAGE_VERSION);
		return 0;
	}
	/* Before any target is held or started: a dump must not be lost
	 * for want of the library that writes it. */
	char missing[512];
	if (common->format == PF_FORMAT_JSON &&
	    !pf_json_load(missing, sizeof missing)) {
		fprintf(stderr, "%s: %s\n", prog, missing);
		return PF_ERR_INTERNAL;
	}
	return -1;
}

FILE *pf_cli_output(const char *prog, const char *path, FILE *dflt)
{
	if (path == NULL)
		return dflt;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
				    O_CLOEXEC,
		      0600);
	FILE *out = fd < 0 ? NULL : fdopen(fd, "a");
	if (out != NULL)
		return out;
	int err = errno;
	if (fd >= 0)
		close(fd);
	/* O_NOFOLLOW gives ELOOP; fs.protected_symlinks may refuse first. */
	struct stat st;
	if ((err == ELOOP || err == EACCES) && lstat(path, &st) == 0 &&
	    S_ISLNK(st.st_mode))
		fprintf(stderr,
			"%s: %s is a symbolic link, which pyfault does not "
			"follow (another user may have planted it): remove it "
			"or name another file\n",
			prog, path);
	else
		fprintf(stderr, "%s: cannot open %s: %s\n", prog, path,
			strerror(err));
	return NULL;
}

void pf_cli_buffer_output(FILE *out)
{
	if (!isatty(fileno(out))) {
		static char buffer[1 << 16];
		setvbuf(out, buffer, _IOFBF, sizeof buffer);
	}
}

bool pf_cli_parse_offsets(const char *arg, unsigned *sources, char *why,
			  size_t why_size)
{
	if (pf_layout_parse_sources(arg, sources))
		return true;
	snprintf(why, why_size,
		 "unknown offsets source '%s' (auto, debug-offsets, dwarf or "
		 "table)",
		 arg);
	return false;
}
