/* The core reader on arbitrary files: ELF and program headers, notes
 * (NT_PRSTATUS, NT_PRPSINFO, NT_SIGINFO, NT_AUXV, NT_FILE) of any size and
 * count, segments past the end of the file, overlapping or out of order.
 * Input: the core file itself.  Every thread's status and every mapping's
 * first and last bytes are read, through the segments and through mapped
 * files (under a sysroot that has none, so that a read of one fails
 * cleanly). */
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "corefile/core_file.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("fuzz-core", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	struct pf_core core;
	struct pf_error err = {0};
	if (pf_core_open(&core, path, "fuzz", "/nonexistent-sysroot", &err) ==
	    PF_OK) {
		PF_FUZZ_ASSERT(core.nthreads > 0);
		struct pf_mem mem;
		pf_mem_open_core(&mem, &core);
		for (size_t i = 0; i < core.nthreads; i++) {
			struct pf_thread_status status = {0};
			pf_core_thread_status(&core, core.threads[i].tid,
					      &status);
			PF_FUZZ_ASSERT(status.collected);
		}
		uint8_t buf[64];
		for (size_t i = 0; i < core.maps.count; i++) {
			const struct pf_mapping *m = &core.maps.items[i];
			pf_mem_read(&mem, m->start, buf, sizeof buf);
			pf_mem_read(&mem, m->end - 8, buf, 16);
		}
		/* Where segments do not overlap, the first byte of each one
		 * the file holds is read from the core, unchanged. */
		bool disjoint = true;
		for (size_t i = 1; i < core.nsegments; i++)
			disjoint &= core.segments[i - 1].vaddr +
					    core.segments[i - 1].memsz <=
				    core.segments[i].vaddr &&
				    core.segments[i - 1].vaddr +
					    core.segments[i - 1].memsz >=
				    core.segments[i - 1].vaddr;
		for (size_t i = 0; disjoint && i < core.nsegments; i++) {
			const struct pf_core_segment *sg = &core.segments[i];
			uint8_t byte;
			if (sg->filesz == 0 || sg->memsz < sg->filesz ||
			    sg->offset >= size || sg->vaddr < 4096 ||
			    sg->vaddr >= (1ull << 63))
				continue;
			PF_FUZZ_ASSERT(pf_mem_read(&mem, sg->vaddr, &byte, 1));
			PF_FUZZ_ASSERT(byte == data[sg->offset]);
		}
		fprintf(pf_fuzz_sink(), "%s %s %s\n", core.fname, core.psargs,
			core.executable);
	}
	pf_core_close(&core);
	close(fd);
	return 0;
}
