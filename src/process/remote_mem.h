/* Reading another process's memory.  Every read is all-or-nothing and
 * bounds-checked: a bad pointer in the target is a false return, never a
 * crash of pyfault.  The backend is behind a function pointer so that the
 * walker runs on recorded images (mem_image.h) as well as on a live
 * process. */
#ifndef PYFAULT_REMOTE_MEM_H
#define PYFAULT_REMOTE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* No structure pyfault reads is larger; longer reads are refused as
 * corrupt lengths. */
#define PF_MEM_MAX_READ (1u << 20)

struct pf_mem_cache;

struct pf_mem {
	bool (*read)(struct pf_mem *mem, uint64_t addr, void *buf, size_t len);
	int fd;           /* live: /proc/PID/mem; -1 for other backends */
	pid_t pid;        /* live: the process read */
	void *backend;    /* other backends' state */
	struct pf_mem_cache *cache;  /* while the target is held
	                                (mem_cache.h); else NULL */
	unsigned long reads;  /* live: system calls that read the target */
};

/* Opens /proc/PID/mem.  Returns -errno on failure. */
int pf_mem_open_live(struct pf_mem *mem, pid_t pid);
void pf_mem_close(struct pf_mem *mem);

bool pf_mem_read(struct pf_mem *mem, uint64_t addr, void *buf, size_t len);

/* pread() until len bytes are read: false at an error or the end of the
 * file first. */
bool pf_pread_all(int fd, void *buf, size_t len, uint64_t offset);
bool pf_mem_read_u64(struct pf_mem *mem, uint64_t addr, uint64_t *out);
bool pf_mem_read_i32(struct pf_mem *mem, uint64_t addr, int32_t *out);

/* Typed fields out of a struct already copied from the target. */
uint64_t pf_field_u64(const void *base, int64_t offset);
int32_t pf_field_i32(const void *base, int64_t offset);
uint32_t pf_field_u32(const void *base, int64_t offset);
uint8_t pf_field_u8(const void *base, int64_t offset);

#endif
