#include "native/native_unwind.h"

#include <stdlib.h>
#include <string.h>

#include "native/eh_frame.h"
#include "native/unwind_lib.h"
#include "process/remote_mem.h"

#define PAGE_SIZE_ 4096u
#define CACHED_PAGES 64

/* Pages of the stopped process read whole through /proc/PID/mem: libunwind
 * reads memory a word at a time, which through ptrace's PEEKDATA is a
 * system call per word.  Nothing changes while every thread is stopped. */
struct page {
	uint64_t addr;   /* 0: empty */
	uint8_t bytes[PAGE_SIZE_];
};

struct live_unwinder {
	struct pf_unwinder ops;
	unw_addr_space_t as;
	struct pf_mem mem;
	struct pf_symbolizer *objects;   /* where each object's unwind
	                                    table is */
	struct pf_eh_frame_tables tables;
	struct page pages[CACHED_PAGES];
};

/* What libunwind hands the accessors for a thread being unwound:
 * libunwind-ptrace's own state for the thread, and ours. */
struct accessor_arg {
	void *upt;
	struct live_unwinder *u;
};

/* The thread being unwound.  libunwind-ptrace calls the accessors itself
 * too, with its own state as their argument rather than ours, so the
 * argument alone cannot say which it is. */
static const struct accessor_arg *unwinding;

/* libunwind's functions, loaded by the first unwinder. */
static const struct pf_unwind_lib *unw;

static void *upt_of(void *arg)
{
	return unwinding && arg == unwinding ? unwinding->upt : arg;
}

static const uint8_t *cached_page(struct live_unwinder *u, uint64_t page_addr)
{
	struct page *p = &u->pages[(page_addr / PAGE_SIZE_) % CACHED_PAGES];
	if (p->addr != page_addr) {
		p->addr = 0;
		if (!pf_mem_read(&u->mem, page_addr, p->bytes, PAGE_SIZE_))
			return NULL;
		p->addr = page_addr;
	}
	return p->bytes;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val,
		      int write, void *arg)
{
	uint64_t page_addr = addr & ~(uint64_t)(PAGE_SIZE_ - 1);
	if (write || addr - page_addr > PAGE_SIZE_ - sizeof *val)
		return unw->_UPT_access_mem(as, addr, val, write, upt_of(arg));
	const uint8_t *page = cached_page(unwinding->u, page_addr);
	if (page == NULL)
		return -UNW_EINVAL;
	memcpy(val, page + (addr - page_addr), sizeof *val);
	return 0;
}

/* The object's .eh_frame_hdr, read from the stopped process: libunwind-
 * ptrace's own lookup reads /proc/PID/maps and maps the object's file
 * anew whenever a C stack enters another object (libc, libpython, libc),
 * which cost more than the rest of the unwinding.  Its lookup stays for
 * an object without such a table. */
static int find_proc_info(unw_addr_space_t as, unw_word_t ip,
			  unw_proc_info_t *pi, int need_unwind_info, void *arg)
{
	unw_dyn_info_t di;
	uint64_t base, end;
	if (unwinding && arg == unwinding &&
	    pf_symbolizer_object(unwinding->u->objects, ip, &base, &end) &&
	    pf_eh_frame_table(&unwinding->u->tables, &unwinding->u->mem, base,
			      end, &di))
		return unw->_Ux86_64_dwarf_search_unwind_table(
			as, ip, &di, pi, need_unwind_info, arg);
	return unw->_UPT_find_proc_info(as, ip, pi, need_unwind_info,
					upt_of(arg));
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi,
			    void *arg)
{
	unw->_UPT_put_unwind_info(as, pi, upt_of(arg));
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr,
				  void *arg)
{
	return unw->_UPT_get_dyn_info_list_addr(as, addr, upt_of(arg));
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg,
		      unw_word_t *val, int write, void *arg)
{
	return unw->_UPT_access_reg(as, reg, val, write, upt_of(arg));
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg,
			unw_fpreg_t *val, int write, void *arg)
{
	return unw->_UPT_access_fpreg(as, reg, val, write, upt_of(arg));
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	return unw->_UPT_resume(as, c, upt_of(arg));
}

/* libunwind-ptrace's accessors, memory reads aside; no get_proc_name:
 * libdwfl names the frames. */
static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
};

static size_t unwind_live(struct pf_unwinder *ops, pid_t tid,
			  struct pf_unwound_frame *frames, size_t max,
			  bool *truncated)
{
	struct live_unwinder *u = (struct live_unwinder *)ops;
	*truncated = false;
	struct accessor_arg arg = {.upt = unw->_UPT_create(tid), .u = u};
	if (arg.upt == NULL)
		return 0;
	unw_cursor_t cursor;
	size_t n = 0;
	unwinding = &arg;
	if (unw->unw_init_remote(&cursor, u->as, &arg) == 0)
		n = pf_unwind_cursor(&cursor, frames, max, truncated);
	unwinding = NULL;
	unw->_UPT_destroy(arg.upt);
	return n;
}

static void free_live(struct pf_unwinder *ops)
{
	struct live_unwinder *u = (struct live_unwinder *)ops;
	unw->unw_destroy_addr_space(u->as);
	pf_mem_close(&u->mem);
	free(u);
}

struct pf_unwinder *pf_unwinder_new(pid_t pid, struct pf_symbolizer *objects,
				    struct pf_error *err)
{
	char why[512];
	if (unw == NULL && (unw = pf_unwind_lib(why, sizeof why)) == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "%s", why);
		return NULL;
	}
	struct live_unwinder *u = calloc(1, sizeof *u);
	if (u == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	u->ops = (struct pf_unwinder){unwind_live, free_live};
	u->objects = objects;
	int rc = pf_mem_open_live(&u->mem, pid);
	if (rc != 0) {
		pf_fail(err, PF_ERR_INTERNAL,
			"cannot open the memory of process %d: %s", (int)pid,
			strerror(-rc));
		free(u);
		return NULL;
	}
	u->as = unw->unw_create_addr_space(&accessors, 0);
	if (u->as == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		pf_mem_close(&u->mem);
		free(u);
		return NULL;
	}
	/* Threads of one process share their code: what libunwind learnt
	 * of a function's frame serves every thread. */
	unw->unw_set_caching_policy(u->as, UNW_CACHE_GLOBAL);
	return &u->ops;
}

void pf_unwinder_free(struct pf_unwinder *u)
{
	if (u)
		u->free(u);
}

size_t pf_unwind_thread(struct pf_unwinder *u, pid_t tid,
			struct pf_unwound_frame *frames, size_t max,
			bool *truncated)
{
	return u->unwind(u, tid, frames, max, truncated);
}

size_t pf_unwind_cursor(void *cursor, struct pf_unwound_frame *frames,
			size_t max, bool *truncated)
{
	unw_cursor_t *c = cursor;
	size_t n = 0;
	char why[512];
	if (unw == NULL && (unw = pf_unwind_lib(why, sizeof why)) == NULL)
		return 0;
	/* The innermost frame is where the thread stopped; a frame
	 * interrupted by a signal too, as the handler's frame says. */
	bool return_address = false;
	*truncated = false;
	for (;;) {
		unw_word_t ip;
		if (unw->unw_get_reg(c, UNW_REG_IP, &ip) != 0 || ip == 0)
			break;
		if (n == max) {
			*truncated = true;
			break;
		}
		frames[n++] = (struct pf_unwound_frame){
			.pc = ip, .return_address = return_address};
		return_address = unw->unw_is_signal_frame(c) <= 0;
		if (unw->unw_step(c) <= 0)
			break;
	}
	return n;
}
