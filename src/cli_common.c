#include "cli_common.h"

#include <fcntl.h>

#include "errors.h"

enum pf_cli_result pf_cli_option(int c, char **argv,
				 struct pf_cli_common *common, char *why,
				 size_t why_size)
{
	switch (c) {
	case 'o':
		common->output = optarg;
		return PF_CLI_TAKEN;
	case 'v':
		common->verbose = true;
		return PF_CLI_TAKEN;
	case PF_OPT_CURRENT:
		common->current_thread_only = true;
		return PF_CLI_TAKEN;
	case PF_OPT_HELP:
		common->help = true;
		return PF_CLI_DONE;
	case PF_OPT_VERSION:
		common->version = true;
		return PF_CLI_DONE;
	case ':':
		snprintf(why, why_size, "option '%s' needs an argument",
			 argv[optind - 1]);
		return PF_CLI_ERROR;
	case '?':
		snprintf(why, why_size, "invalid option '%s'",
			 argv[optind - 1]);
		return PF_CLI_ERROR;
	default:
		return PF_CLI_OTHER;
	}
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
	return -1;
}

FILE *pf_cli_open_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
				    O_CLOEXEC,
		      0600);
	return fd < 0 ? NULL : fdopen(fd, "a");
}
