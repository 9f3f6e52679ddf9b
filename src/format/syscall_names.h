/* x86_64 system call names by number, from the kernel headers this was
 * built with (<asm/unistd_64.h>, generated into syscall_names.inc). */
#ifndef PYFAULT_SYSCALL_NAMES_H
#define PYFAULT_SYSCALL_NAMES_H

/* "read" for 0; NULL for a number the headers do not name. */
const char *pf_syscall_name(long nr);

#endif
