/* What the unit tests of the writers share: the text written to a memory
 * stream, and target strs made from ASCII. */
#ifndef PYFAULT_TEST_OUTPUT_CAPTURE_H
#define PYFAULT_TEST_OUTPUT_CAPTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/snapshot.h"

static char *buf;
static size_t buf_size;
static FILE *out;

static inline void open_out(void)
{
	out = open_memstream(&buf, &buf_size);
}

static inline const char *output(void)
{
	fflush(out);
	return buf;
}

static inline void close_out(void)
{
	fclose(out);
	free(buf);
	buf = NULL;
}

static inline struct pf_text text_of(const char *ascii)
{
	struct pf_text t = {.present = true, .length = (uint32_t)strlen(ascii)};
	t.chars = malloc((t.length + 1) * sizeof *t.chars);
	for (uint32_t i = 0; i < t.length; i++)
		t.chars[i] = (unsigned char)ascii[i];
	return t;
}

#endif
