/* An ELF core file of an x86_64 Linux process, read lazily: its notes (the
 * threads and their registers, the signal, the mapped files) at open, its
 * memory only when asked.  Memory comes from the core's PT_LOAD segments,
 * and where the kernel did not dump a file mapping (the text and read-only
 * data of the executable and libraries), from the mapped file named in the
 * NT_FILE note, under the sysroot when one is given. */
#ifndef PYFAULT_CORE_FILE_H
#define PYFAULT_CORE_FILE_H

#include <libelf.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/errors.h"
#include "base/snapshot.h"
#include "process/proc_maps.h"
#include "process/remote_mem.h"

struct pf_core_thread {
	pid_t tid;
	uint64_t pthread_id;   /* fs_base: pthread_self(), tstate->thread_id */
	int cursig;            /* the signal it was stopped by, 0 if none */
	/* In a system call (orig_rax not negative): its number and
	 * arguments, as /proc/PID/syscall gives them. */
	bool in_syscall;
	long syscall_nr;
	uint64_t syscall_args[6];
};

struct pf_core_segment {
	uint64_t vaddr, memsz;
	uint64_t offset, filesz;   /* in the core */
	uint32_t flags;            /* PF_R, PF_W, PF_X */
};

/* A file mapping of the NT_FILE note. */
struct pf_core_file_map {
	uint64_t start, end, offset;   /* offset in bytes in the file */
	char *path;                    /* as the target named it */
	int fd;                        /* the file under the sysroot; -1:
	                                  not opened yet, -2: cannot be */
};

struct pf_core {
	int fd;
	char *path;                 /* where the core is read from */
	char *name;                 /* what messages call it */
	Elf *elf;
	uint64_t size;              /* of the core file */
	pid_t pid;
	char fname[17];             /* NT_PRPSINFO: the main thread's comm */
	char psargs[81];            /* its command line, cut to 80 bytes */
	size_t nthreads;
	struct pf_core_thread *threads;  /* the dumping thread first */
	bool has_siginfo;
	siginfo_t siginfo;          /* NT_SIGINFO: the dumping thread's */
	uint64_t phdr_addr;         /* AT_PHDR: where the executable is */
	size_t nsegments;
	struct pf_core_segment *segments;  /* sorted by vaddr */
	size_t nfiles;
	struct pf_core_file_map *files;
	uint64_t missing_bytes;     /* of the segments past the core's end */
	const char *sysroot;        /* NULL: / */
	struct pf_maps maps;        /* NT_FILE and the segments' permissions */
	char executable[4096];      /* as the target named it; "" unknown */
	const char *executable_file; /* read for it instead; NULL: under the
	                                sysroot */
};

/* Opens the core at path, called name in messages (its mapped files are
 * read under sysroot, which may be NULL).  Fails with PF_ERR_BAD_CORE when
 * it is not an ELF core of an x86_64 process or its notes cannot be
 * read. */
enum pf_status pf_core_open(struct pf_core *core, const char *path,
			    const char *name, const char *sysroot,
			    struct pf_error *err);
void pf_core_close(struct pf_core *core);

/* A file of the target as pyfault reads it: path under the sysroot. */
void pf_core_host_path(const struct pf_core *core, const char *path,
		       char *out, size_t size);

/* A backend that reads the core's memory (see the top of this file). */
void pf_mem_open_core(struct pf_mem *mem, struct pf_core *core);

/* What --status shows of thread tid, as far as the core tells: its system
 * call, the main thread's name.  ctx is the core (pf_walk_input's
 * thread_status). */
void pf_core_thread_status(void *core, pid_t tid,
			   struct pf_thread_status *out);

#endif
