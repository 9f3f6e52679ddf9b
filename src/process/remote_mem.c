#include "process/remote_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "process/mem_cache.h"

bool pf_pread_all(int fd, void *buf, size_t len, uint64_t offset)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  (off_t)(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

/* /proc/PID/mem is read at the address as offset. */
static bool read_live(struct pf_mem *mem, uint64_t addr, void *buf,
		      size_t len)
{
	mem->reads++;
	return pf_pread_all(mem->fd, buf, len, addr);
}

int pf_mem_open_live(struct pf_mem *mem, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
	memset(mem, 0, sizeof *mem);
	mem->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (mem->fd < 0)
		return -errno;
	mem->pid = pid;
	mem->read = read_live;
	return 0;
}

void pf_mem_close(struct pf_mem *mem)
{
	pf_mem_cache_end(mem);
	if (mem->fd >= 0)
		close(mem->fd);
	mem->fd = -1;
}

bool pf_mem_read(struct pf_mem *mem, uint64_t addr, void *buf, size_t len)
{
	/* The first page is never mapped, and user space ends below 2^63. */
	if (addr < 4096 || len > PF_MEM_MAX_READ || addr >= (1ull << 63) ||
	    addr + len < addr)
		return false;
	if (len == 0)
		return true;
	if (mem->cache)
		return pf_mem_cache_read(mem, addr, buf, len);
	return mem->read(mem, addr, buf, len);
}

bool pf_mem_read_u64(struct pf_mem *mem, uint64_t addr, uint64_t *out)
{
	return pf_mem_read(mem, addr, out, sizeof *out);
}

bool pf_mem_read_i32(struct pf_mem *mem, uint64_t addr, int32_t *out)
{
	return pf_mem_read(mem, addr, out, sizeof *out);
}

uint64_t pf_field_u64(const void *base, int64_t offset)
{
	uint64_t v;
	memcpy(&v, (const char *)base + offset, sizeof v);
	return v;
}

int32_t pf_field_i32(const void *base, int64_t offset)
{
	int32_t v;
	memcpy(&v, (const char *)base + offset, sizeof v);
	return v;
}

uint32_t pf_field_u32(const void *base, int64_t offset)
{
	uint32_t v;
	memcpy(&v, (const char *)base + offset, sizeof v);
	return v;
}

uint8_t pf_field_u8(const void *base, int64_t offset)
{
	return ((const uint8_t *)base)[offset];
}
