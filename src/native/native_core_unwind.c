#include "native/native_core_unwind.h"

#include <libunwind-coredump.h>
#include <stdlib.h>
#include <string.h>

#include "native/eh_frame.h"

struct core_unwinder {
	struct pf_unwinder ops;
	struct pf_core *core;
	struct pf_mem mem;
	struct UCD_info *ucd;
	unw_addr_space_t as;
	struct pf_eh_frame_tables tables;
};

/* The registers are libunwind-coredump's (the NT_PRSTATUS of the thread
 * selected); memory and the unwind tables are read through pyfault's core
 * backend, which also serves what the kernel did not dump from the mapped
 * files at their offsets: libunwind 1.6's own reads a backing file as if
 * each segment were mapped from the start of its file. */
static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val,
		      int write, void *arg)
{
	(void)as;
	struct core_unwinder *u = arg;
	if (write || !pf_mem_read(&u->mem, addr, val, sizeof *val))
		return -UNW_EINVAL;
	return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg,
		      unw_word_t *val, int write, void *arg)
{
	return _UCD_access_reg(as, reg, val, write,
			       ((struct core_unwinder *)arg)->ucd);
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg,
			unw_fpreg_t *val, int write, void *arg)
{
	return _UCD_access_fpreg(as, reg, val, write,
				 ((struct core_unwinder *)arg)->ucd);
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return _UCD_resume(as, c, ((struct core_unwinder *)arg)->ucd);
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr,
				  void *arg)
{
	(void)as;
	(void)addr;
	(void)arg;
	return -UNW_ENOINFO;
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi,
			    void *arg)
{
	(void)as;
	(void)arg;
	free(pi->unwind_info);
	pi->unwind_info = NULL;
}

/* The ELF object mapped at ip: the start of its file's first mapping and
 * the end of its last. */
static bool object_at(const struct pf_core *core, uint64_t ip,
		      uint64_t *base, uint64_t *end)
{
	const struct pf_core_file_map *hit = NULL;
	for (size_t i = 0; i < core->nfiles && hit == NULL; i++)
		if (ip >= core->files[i].start && ip < core->files[i].end)
			hit = &core->files[i];
	if (hit == NULL)
		return false;
	*base = UINT64_MAX;
	*end = 0;
	for (size_t i = 0; i < core->nfiles; i++) {
		const struct pf_core_file_map *f = &core->files[i];
		if (strcmp(f->path, hit->path) != 0)
			continue;
		if (f->offset == 0 && f->start < *base)
			*base = f->start;
		if (f->end > *end)
			*end = f->end;
	}
	return *base != UINT64_MAX;
}

/* The table of the object at ip. */
static bool eh_frame_table(struct core_unwinder *u, uint64_t ip,
			   unw_dyn_info_t *di)
{
	uint64_t base, end;
	return object_at(u->core, ip, &base, &end) &&
	       pf_eh_frame_table(&u->tables, &u->mem, base, end, di);
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip,
			  unw_proc_info_t *pi, int need_unwind_info, void *arg)
{
	unw_dyn_info_t di;
	if (!eh_frame_table(arg, ip, &di))
		return -UNW_ENOINFO;
	return _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi,
						  need_unwind_info, arg);
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
};

static size_t unwind_core(struct pf_unwinder *ops, pid_t tid,
			  struct pf_unwound_frame *frames, size_t max,
			  bool *truncated)
{
	struct core_unwinder *u = (struct core_unwinder *)ops;
	*truncated = false;
	/* libunwind-coredump numbers the threads in the order of their
	 * NT_PRSTATUS notes, as the core reader does. */
	int index = -1;
	for (size_t i = 0; i < u->core->nthreads && index < 0; i++)
		if (u->core->threads[i].tid == tid)
			index = (int)i;
	unw_cursor_t cursor;
	if (index < 0 || index >= _UCD_get_num_threads(u->ucd))
		return 0;
	_UCD_select_thread(u->ucd, index);
	if (_UCD_get_pid(u->ucd) != tid ||
	    unw_init_remote(&cursor, u->as, u) != 0)
		return 0;
	return pf_unwind_cursor(&cursor, frames, max, truncated);
}

static void free_core(struct pf_unwinder *ops)
{
	struct core_unwinder *u = (struct core_unwinder *)ops;
	if (u->as)
		unw_destroy_addr_space(u->as);
	if (u->ucd)
		_UCD_destroy(u->ucd);
	free(u);
}

struct pf_unwinder *pf_core_unwinder_new(struct pf_core *core)
{
	struct core_unwinder *u = calloc(1, sizeof *u);
	if (u == NULL)
		return NULL;
	u->ops = (struct pf_unwinder){unwind_core, free_core};
	u->core = core;
	pf_mem_open_core(&u->mem, core);
	u->ucd = _UCD_create(core->path);
	u->as = unw_create_addr_space(&accessors, 0);
	if (u->ucd == NULL || u->as == NULL) {
		free_core(&u->ops);
		return NULL;
	}
	unw_set_caching_policy(u->as, UNW_CACHE_GLOBAL);
	return &u->ops;
}
