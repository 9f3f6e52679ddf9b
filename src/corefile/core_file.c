#include "corefile/core_file.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <sys/user.h>
#include <unistd.h>

#include "elf/elf_lib.h"

#define FILE_UNOPENED (-1)
#define FILE_MISSING (-2)

static int by_vaddr(const void *a, const void *b)
{
	const struct pf_core_segment *x = a, *y = b;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static bool add_thread(struct pf_core *core, const struct elf_prstatus *st)
{
	struct user_regs_struct regs;
	void *grown = realloc(core->threads,
			      (core->nthreads + 1) * sizeof *core->threads);
	if (grown == NULL)
		return false;
	core->threads = grown;
	memcpy(&regs, &st->pr_reg, sizeof regs);
	core->threads[core->nthreads++] = (struct pf_core_thread){
		.tid = st->pr_pid,
		.pthread_id = regs.fs_base,
		.cursig = st->pr_cursig,
		.in_syscall = (int64_t)regs.orig_rax >= 0,
		.syscall_nr = (long)regs.orig_rax,
		.syscall_args = {regs.rdi, regs.rsi, regs.rdx, regs.r10,
				 regs.r8, regs.r9},
	};
	return true;
}

static uint64_t word_at(const char *desc, size_t i)
{
	uint64_t v;
	memcpy(&v, desc + 8 * i, sizeof v);
	return v;
}

/* NT_FILE: count, page size, count (start, end, page offset) triples, then
 * count NUL-terminated paths. */
static bool parse_files(struct pf_core *core, const char *desc, size_t len)
{
	if (len < 16)
		return false;
	uint64_t count = word_at(desc, 0), page = word_at(desc, 1);
	if (count > (len - 16) / 24)
		return false;
	const char *names = desc + 16 + 24 * count, *end = desc + len;
	core->files = calloc(count ? count : 1, sizeof *core->files);
	if (core->files == NULL)
		return false;
	for (uint64_t i = 0; i < count; i++) {
		const char *nul = memchr(names, '\0', (size_t)(end - names));
		if (nul == NULL)
			return false;
		struct pf_core_file_map *f = &core->files[core->nfiles++];
		*f = (struct pf_core_file_map){
			.start = word_at(desc, 2 + 3 * i),
			.end = word_at(desc, 3 + 3 * i),
			.offset = word_at(desc, 4 + 3 * i) * page,
			.path = strdup(names),
			.fd = FILE_UNOPENED,
		};
		if (f->path == NULL)
			return false;
		names = nul + 1;
	}
	return true;
}

static void parse_auxv(struct pf_core *core, const char *desc, size_t len)
{
	for (size_t i = 0; i + 1 < len / 8; i += 2)
		if (word_at(desc, i) == AT_PHDR)
			core->phdr_addr = word_at(desc, i + 1);
}

static bool parse_note(struct pf_core *core, const GElf_Nhdr *nh,
		       const char *name, const char *desc)
{
	if (nh->n_namesz != 5 || memcmp(name, "CORE", 5) != 0)
		return true;
	switch (nh->n_type) {
	case NT_PRSTATUS: {
		/* Notes are 4-byte aligned, the struct needs 8: copied. */
		struct elf_prstatus st;
		if (nh->n_descsz < sizeof st)
			return true;
		memcpy(&st, desc, sizeof st);
		return add_thread(core, &st);
	}
	case NT_PRPSINFO:
		if (nh->n_descsz >= sizeof(struct elf_prpsinfo)) {
			struct elf_prpsinfo ps;
			memcpy(&ps, desc, sizeof ps);
			core->pid = ps.pr_pid;
			memcpy(core->fname, ps.pr_fname, sizeof ps.pr_fname);
			memcpy(core->psargs, ps.pr_psargs, sizeof ps.pr_psargs);
		}
		return true;
	case NT_SIGINFO:
		if (nh->n_descsz >= sizeof(siginfo_t) && !core->has_siginfo) {
			memcpy(&core->siginfo, desc, sizeof core->siginfo);
			core->has_siginfo = true;
		}
		return true;
	case NT_AUXV:
		parse_auxv(core, desc, nh->n_descsz);
		return true;
	case NT_FILE:
		return core->files != NULL ||
		       parse_files(core, desc, nh->n_descsz);
	default:
		return true;
	}
}

static bool parse_notes(struct pf_core *core, const GElf_Phdr *ph)
{
	Elf_Data *data = pf_libelf.elf_getdata_rawchunk(
		core->elf, (int64_t)ph->p_offset, ph->p_filesz, ELF_T_NHDR);
	if (data == NULL)
		return false;
	size_t off = 0, name_off, desc_off;
	GElf_Nhdr nh;
	while (off < data->d_size &&
	       (off = pf_libelf.gelf_getnote(data, off, &nh, &name_off,
					     &desc_off)) > 0)
		if (!parse_note(core, &nh, (const char *)data->d_buf + name_off,
				(const char *)data->d_buf + desc_off))
			return false;
	return true;
}

/* The segment holding addr, or NULL. */
static const struct pf_core_segment *segment_at(const struct pf_core *core,
						uint64_t addr)
{
	size_t lo = 0, hi = core->nsegments;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (core->segments[mid].vaddr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct pf_core_segment *s = &core->segments[lo - 1];
	return addr - s->vaddr < s->memsz ? s : NULL;
}

static int by_start(const void *a, const void *b)
{
	const struct pf_mapping *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The maps as /proc/PID/maps would have shown them, as far as a core
 * tells: the file mappings of NT_FILE, and the segments that are none
 * (anonymous memory); permissions from the segments (gcore leaves out
 * the segments of read-only file mappings: those read "r--p"). */
static bool build_maps(struct pf_core *core)
{
	struct pf_maps *maps = &core->maps;
	maps->items = calloc(core->nfiles + core->nsegments + 1,
			     sizeof *maps->items);
	if (maps->items == NULL)
		return false;
	for (size_t i = 0; i < core->nfiles; i++) {
		const struct pf_core_file_map *f = &core->files[i];
		const struct pf_core_segment *s = segment_at(core, f->start);
		struct pf_mapping *m = &maps->items[maps->count++];
		*m = (struct pf_mapping){.start = f->start, .end = f->end,
					 .offset = f->offset,
					 .path = strdup(f->path)};
		if (m->path == NULL)
			return false;
		uint32_t flags = s ? s->flags : PF_R;
		snprintf(m->perms, sizeof m->perms, "%c%c%cp",
			 flags & PF_R ? 'r' : '-', flags & PF_W ? 'w' : '-',
			 flags & PF_X ? 'x' : '-');
		m->deleted = pf_maps_strip_deleted(m->path);
		if (core->phdr_addr >= f->start && core->phdr_addr < f->end)
			snprintf(core->executable, sizeof core->executable,
				 "%s", m->path);
	}
	for (size_t i = 0; i < core->nsegments; i++) {
		const struct pf_core_segment *s = &core->segments[i];
		bool file = false;
		for (size_t j = 0; j < core->nfiles && !file; j++)
			file = core->files[j].start == s->vaddr;
		if (file)
			continue;
		struct pf_mapping *m = &maps->items[maps->count++];
		*m = (struct pf_mapping){.start = s->vaddr,
					 .end = s->vaddr + s->memsz};
		snprintf(m->perms, sizeof m->perms, "%c%c%cp",
			 s->flags & PF_R ? 'r' : '-',
			 s->flags & PF_W ? 'w' : '-',
			 s->flags & PF_X ? 'x' : '-');
	}
	qsort(maps->items, maps->count, sizeof *maps->items, by_start);
	return true;
}

static bool read_headers(struct pf_core *core)
{
	size_t phnum;
	if (pf_libelf.elf_getphdrnum(core->elf, &phnum) != 0)
		return false;
	core->segments = calloc(phnum ? phnum : 1, sizeof *core->segments);
	if (core->segments == NULL)
		return false;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr ph;
		if (pf_libelf.gelf_getphdr(core->elf, (int)i, &ph) == NULL)
			return false;
		if (ph.p_type == PT_NOTE && !parse_notes(core, &ph))
			return false;
		if (ph.p_type != PT_LOAD)
			continue;
		core->segments[core->nsegments++] = (struct pf_core_segment){
			.vaddr = ph.p_vaddr, .memsz = ph.p_memsz,
			.offset = ph.p_offset, .filesz = ph.p_filesz,
			.flags = ph.p_flags};
		if (ph.p_offset + ph.p_filesz > core->size)
			core->missing_bytes +=
				ph.p_offset >= core->size
					? ph.p_filesz
					: ph.p_offset + ph.p_filesz - core->size;
	}
	qsort(core->segments, core->nsegments, sizeof *core->segments,
	      by_vaddr);
	return build_maps(core);
}

enum pf_status pf_core_open(struct pf_core *core, const char *path,
			    const char *name, const char *sysroot,
			    struct pf_error *err)
{
	memset(core, 0, sizeof *core);
	core->sysroot = sysroot;
	core->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (core->fd < 0)
		return pf_fail(err, errno == ENOENT ? PF_ERR_USAGE
						    : PF_ERR_PERMISSION,
			       "cannot open %s: %s", path, strerror(errno));
	core->path = strdup(path);
	core->name = strdup(name);
	struct stat st;
	if (core->path == NULL || core->name == NULL ||
	    fstat(core->fd, &st) != 0)
		return pf_fail(err, PF_ERR_INTERNAL, "cannot read %s: %s",
			       name, strerror(errno));
	path = name;
	core->size = (uint64_t)st.st_size;
	char why[512];
	if (!pf_libelf_load(why, sizeof why))
		return pf_fail_with_fix(err, PF_ERR_INTERNAL, "%s", why);
	/* Not mapped: a truncated core would fault where its segments
	 * end; read, libelf takes only the headers and notes. */
	core->elf = pf_libelf.elf_begin(core->fd, ELF_C_READ, NULL);
	GElf_Ehdr eh;
	if (core->elf == NULL || pf_libelf.elf_kind(core->elf) != ELF_K_ELF ||
	    pf_libelf.gelf_getehdr(core->elf, &eh) == NULL ||
	    eh.e_type != ET_CORE)
		return pf_fail(err, PF_ERR_BAD_CORE,
			       "%s is not an ELF core file", path);
	if (eh.e_machine != EM_X86_64 ||
	    pf_libelf.gelf_getclass(core->elf) != ELFCLASS64)
		return pf_fail(err, PF_ERR_BAD_CORE,
			       "%s is the core of a process of another "
			       "architecture (ELF machine %u), not x86_64",
			       path, (unsigned)eh.e_machine);
	if (!read_headers(core))
		return pf_fail(err, PF_ERR_BAD_CORE,
			       "%s: its program headers or notes cannot be read: "
			       "the file (%llu bytes) is truncated or corrupt",
			       path, (unsigned long long)core->size);
	if (core->nthreads == 0)
		return pf_fail(err, PF_ERR_BAD_CORE,
			       "%s: a core without any thread (NT_PRSTATUS "
			       "note)",
			       path);
	if (core->pid == 0)
		core->pid = core->threads[0].tid;
	return PF_OK;
}

void pf_core_close(struct pf_core *core)
{
	for (size_t i = 0; i < core->nfiles; i++) {
		free(core->files[i].path);
		if (core->files[i].fd >= 0)
			close(core->files[i].fd);
	}
	free(core->files);
	pf_maps_free(&core->maps);
	free(core->segments);
	free(core->threads);
	if (core->elf)
		pf_libelf.elf_end(core->elf);
	if (core->fd >= 0)
		close(core->fd);
	free(core->path);
	free(core->name);
	memset(core, 0, sizeof *core);
	core->fd = -1;
}

void pf_core_host_path(const struct pf_core *core, const char *path,
		       char *out, size_t size)
{
	if (core->executable_file && strcmp(path, core->executable) == 0) {
		snprintf(out, size, "%s", core->executable_file);
		return;
	}
	const char *root = core->sysroot ? core->sysroot : "";
	size_t n = strlen(root);
	/* "DIR/" and "/" name the root too. */
	while (n > 0 && root[n - 1] == '/')
		n--;
	snprintf(out, size, "%.*s%s", (int)n, root, path);
}

/* The NT_FILE mapping holding addr, or NULL. */
static struct pf_core_file_map *file_map_at(struct pf_core *core,
					    uint64_t addr)
{
	for (size_t i = 0; i < core->nfiles; i++)
		if (addr >= core->files[i].start && addr < core->files[i].end)
			return &core->files[i];
	return NULL;
}

/* Bytes of a file mapping that the core does not hold, from the file. */
static bool read_mapped_file(struct pf_core *core,
			     struct pf_core_file_map *f, uint64_t addr,
			     void *buf, size_t len)
{
	if (f->fd == FILE_UNOPENED) {
		char path[4200];
		pf_core_host_path(core, f->path, path, sizeof path);
		f->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0)
			f->fd = FILE_MISSING;
	}
	return f->fd >= 0 &&
	       pf_pread_all(f->fd, buf, len, f->offset + (addr - f->start));
}

/* The kernel dumps the bytes of a segment up to its filesz, the rest of
 * a file mapping is in the file; gcore leaves out the segments of
 * read-only file mappings altogether. */
static bool read_core(struct pf_mem *mem, uint64_t addr, void *buf,
		      size_t len)
{
	struct pf_core *core = mem->backend;
	uint8_t *dst = buf;
	while (len > 0) {
		const struct pf_core_segment *s = segment_at(core, addr);
		uint64_t at = s ? addr - s->vaddr : 0, avail;
		bool ok;
		if (s && at < s->filesz) {
			avail = s->filesz - at;
			if (avail > len)
				avail = len;
			ok = pf_pread_all(core->fd, dst, (size_t)avail,
				       s->offset + at);
		} else {
			struct pf_core_file_map *f = file_map_at(core, addr);
			if (f == NULL)
				return false;
			avail = f->end - addr;
			if (s && s->memsz - at < avail)
				avail = s->memsz - at;
			if (avail > len)
				avail = len;
			ok = read_mapped_file(core, f, addr, dst,
					      (size_t)avail);
		}
		if (!ok)
			return false;
		dst += avail;
		addr += avail;
		len -= (size_t)avail;
	}
	return true;
}

void pf_mem_open_core(struct pf_mem *mem, struct pf_core *core)
{
	memset(mem, 0, sizeof *mem);
	mem->fd = -1;
	mem->backend = core;
	mem->read = read_core;
}

void pf_core_thread_status(void *ctx, pid_t tid, struct pf_thread_status *out)
{
	const struct pf_core *core = ctx;
	out->collected = true;
	for (size_t i = 0; i < core->nthreads; i++) {
		const struct pf_core_thread *t = &core->threads[i];
		if (t->tid != tid)
			continue;
		if (tid == core->pid)
			snprintf(out->name, sizeof out->name, "%.15s",
				 core->fname);
		out->state = t->in_syscall ? PF_STATE_SYSCALL : PF_STATE_RUNNING;
		out->syscall_nr = t->in_syscall ? t->syscall_nr : 0;
		if (t->in_syscall)
			memcpy(out->syscall_args, t->syscall_args,
			       sizeof out->syscall_args);
	}
}
