#include "entry_break.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <unistd.h>

/* int3, which traps with the instruction pointer just past it. */
#define INT3 0xcc

static uint64_t entry_point(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/auxv", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	Elf64_auxv_t aux;
	uint64_t entry = 0;
	while (entry == 0 && read(fd, &aux, sizeof aux) == sizeof aux &&
	       aux.a_type != AT_NULL)
		if (aux.a_type == AT_ENTRY)
			entry = aux.a_un.a_val;
	close(fd);
	return entry;
}

bool pf_entry_break_arm(struct pf_entry_break *bp, pid_t pid)
{
	bp->addr = 0;
	uint64_t entry = entry_point(pid);
	if (entry == 0)
		return false;
	errno = 0;
	long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)entry, NULL);
	if (errno != 0)
		return false;
	long trap = (long)(((unsigned long)word & ~0xfful) | INT3);
	if (ptrace(PTRACE_POKETEXT, pid, (void *)entry, (void *)trap) != 0)
		return false;
	bp->addr = entry;
	bp->saved_word = word;
	return true;
}

bool pf_entry_break_reached(struct pf_entry_break *bp, pid_t tid)
{
	struct user_regs_struct regs;
	if (bp->addr == 0 || ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0 ||
	    regs.rip != bp->addr + 1)
		return false;
	regs.rip = bp->addr;
	ptrace(PTRACE_POKETEXT, tid, (void *)bp->addr, (void *)bp->saved_word);
	ptrace(PTRACE_SETREGS, tid, NULL, &regs);
	bp->addr = 0;
	return true;
}
