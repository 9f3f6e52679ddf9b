#include "cli_common.h"

#include <fcntl.h>

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

FILE *pf_cli_open_output(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
				    O_CLOEXEC,
		      0600);
	return fd < 0 ? NULL : fdopen(fd, "a");
}
