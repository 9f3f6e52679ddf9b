#include "format/syscall_names.h"

#include <stddef.h>

/* Built from <asm/unistd_64.h> by the Makefile: one [NR] = "name" line per
 * __NR_name. */
static const char *const syscall_names[] = {
#include "format/syscall_names.inc"
};

const char *pf_syscall_name(long nr)
{
	if (nr < 0 ||
	    (size_t)nr >= sizeof syscall_names / sizeof syscall_names[0])
		return NULL;
	return syscall_names[nr];
}
