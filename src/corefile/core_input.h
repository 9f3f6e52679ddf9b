/* Where the core comes from: a file as it is, a file compressed as
 * systemd-coredump stores cores (zstd, xz, lz4), or standard input ("-",
 * as `coredumpctl dump` writes it, compressed or not).  A compressed core
 * or one from a pipe is written out to an anonymous temporary file as it
 * streams in (zero pages left as holes), since the reader seeks. */
#ifndef PYFAULT_CORE_INPUT_H
#define PYFAULT_CORE_INPUT_H

#include <stddef.h>

#include "base/errors.h"

struct pf_core_input {
	char read_path[4096]; /* where to open the core: the file itself or
	                         /proc/self/fd/N of the temporary copy */
	char path[4096];      /* as given, for messages */
	int fd;               /* the temporary copy; -1 when none */
	const char *format;   /* "zstd", "xz", "lz4" or NULL */
	/* Set when the compressed stream ended early or was corrupt: the
	 * copy holds what could be decompressed. */
	char warning[4400];
};

/* Prepares path ("-": standard input).  Fails with PF_ERR_USAGE when
 * path does not exist, PF_ERR_PERMISSION when it cannot be read. */
enum pf_status pf_core_input_open(struct pf_core_input *in, const char *path,
				  struct pf_error *err);
void pf_core_input_close(struct pf_core_input *in);

#endif
