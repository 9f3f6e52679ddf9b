#include "py_target.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "elf_symbols.h"
#include "layout_debug_offsets.h"
#include "layout_dwarf.h"
#include "layout_tables.h"
#include "proc_maps.h"

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* libpython3.11.so.1.0, libpython3.6m.so, libpython2.7.so.1.0 */
static bool is_libpython(const char *path)
{
	return fnmatch("libpython[23].*.so*", base_name(path), 0) == 0;
}

/* "python3.11", "libpython3.8.so.1.0" -> 3, 11 */
static bool version_from_name(const char *path, unsigned *major,
			      unsigned *minor)
{
	const char *p = strstr(base_name(path), "python");
	return p && sscanf(p, "python%u.%u", major, minor) == 2;
}

/* The shared libpython if one is mapped, else the main executable. */
static enum pf_status find_object(struct pf_target *t,
				  const struct pf_maps *maps,
				  struct pf_error *err)
{
	const char *found = NULL;
	for (size_t i = 0; i < maps->count; i++) {
		const char *path = maps->items[i].path;
		if (path == NULL || !is_libpython(path))
			continue;
		if (found && strcmp(found, path) != 0)
			return pf_fail(err, PF_ERR_UNSUPPORTED,
				       "process %d has two Python libraries "
				       "loaded (%s and %s)",
				       (int)t->pid, found, path);
		found = path;
	}
	if (found) {
		snprintf(t->object_path, sizeof t->object_path, "%s", found);
		return PF_OK;
	}
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/exe", (int)t->pid);
	ssize_t n = readlink(link, t->object_path,
			     sizeof t->object_path - 1);
	if (n < 0)
		return pf_fail(err, errno == ENOENT ? PF_ERR_NO_PROCESS
						    : PF_ERR_PERMISSION,
			       "cannot read the executable of process %d: %s",
			       (int)t->pid, strerror(errno));
	t->object_path[n] = '\0';
	return PF_OK;
}

/* The object as the target sees it, also when it lives in another mount
 * namespace. */
static void host_path(const struct pf_target *t, char *out, size_t size)
{
	snprintf(out, size, "/proc/%d/root%s", (int)t->pid, t->object_path);
}

static enum pf_status find_version(struct pf_target *t, struct pf_elf *elf,
				   uint64_t bias, struct pf_mem *mem,
				   struct pf_error *err)
{
	uint64_t addr, hex;
	/* Only the debug offsets (3.13+) tell a free-threaded build, and
	 * only 3.13+ has one. */
	bool offsets = pf_debug_offsets_version(mem, t->runtime, &hex,
						&t->free_threaded);
	/* Py_Version (3.11+) and the debug offsets' header are exact; older
	 * versions name themselves only in the file name. */
	if ((pf_elf_symbol(elf, "Py_Version", &addr, NULL) &&
	     pf_mem_read_u64(mem, bias + addr, &hex)) ||
	    offsets) {
		t->major = (hex >> 24) & 0xff;
		t->minor = (hex >> 16) & 0xff;
		t->micro = (hex >> 8) & 0xff;
		t->micro_known = true;
		return PF_OK;
	}
	if (version_from_name(t->object_path, &t->major, &t->minor))
		return PF_OK;
	return pf_fail(err, PF_ERR_UNSUPPORTED,
		       "cannot tell the Python version of %s", t->object_path);
}

struct source_input {
	struct pf_mem *mem;
	uint64_t runtime;
	const char *elf_path;
	bool debug_build;
};

static enum pf_status from_debug_offsets(struct pf_layout *l,
					 const struct source_input *in,
					 struct pf_error *err)
{
	if (l->minor < 13)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "only CPython 3.13+ has them");
	return pf_layout_from_debug_offsets(l, in->mem, in->runtime, err);
}

static enum pf_status from_dwarf(struct pf_layout *l,
				 const struct source_input *in,
				 struct pf_error *err)
{
	return pf_layout_from_dwarf(l, in->elf_path, err);
}

static enum pf_status from_table(struct pf_layout *l,
				 const struct source_input *in,
				 struct pf_error *err)
{
	if (in->debug_build)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "the shipped tables describe release builds, and "
			       "this is a debug build");
	if (l->free_threaded)
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "the shipped tables describe GIL builds, and "
			       "this one is free-threaded");
	return pf_layout_from_table(l, err);
}

/* Names the file as the target sees it, without host_path()'s prefix. */
static void strip_root_prefix(const struct pf_target *t, char *path)
{
	char prefix[64];
	int n = snprintf(prefix, sizeof prefix, "/proc/%d/root", (int)t->pid);
	if (strncmp(path, prefix, (size_t)n) == 0 && path[n] == '/')
		memmove(path, path + n, strlen(path + n) + 1);
}

static enum pf_status choose_layout(struct pf_target *t,
				    const struct source_input *in,
				    unsigned sources, struct pf_error *err)
{
	/* In order of trust. */
	static const struct {
		enum pf_layout_source source;
		enum pf_status (*fill)(struct pf_layout *,
				       const struct source_input *,
				       struct pf_error *);
	} order[] = {
		{PF_SOURCE_DEBUG_OFFSETS, from_debug_offsets},
		{PF_SOURCE_DWARF, from_dwarf},
		{PF_SOURCE_TABLE, from_table},
	};
	struct pf_layout *l = &t->layout;
	char why[sizeof err->message] = "";
	size_t used = 0;
	/* Of a version newer than every one pyfault knows, only the debug
	 * offsets can be checked against the build itself. */
	if (t->major == 3 && t->minor > PF_NEWEST_KNOWN_MINOR) {
		sources &= PF_SOURCE_BIT(PF_SOURCE_DEBUG_OFFSETS);
		snprintf(t->warning, sizeof t->warning,
			 "process %d runs Python %u.%u, newer than any this "
			 "pyfault knows (3.%u): reading it with 3.%u's rules, "
			 "as its _Py_DebugOffsets describe it",
			 (int)t->pid, t->major, t->minor,
			 PF_NEWEST_KNOWN_MINOR, PF_NEWEST_KNOWN_MINOR);
	}
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
		if (!(sources & PF_SOURCE_BIT(order[i].source)))
			continue;
		if (!pf_layout_init_version(l, t->major, t->minor, t->micro))
			return pf_fail(err, PF_ERR_UNSUPPORTED,
				       "process %d runs Python %u.%u, which is "
				       "not supported",
				       (int)t->pid, t->major, t->minor);
		if (t->free_threaded)
			pf_layout_set_free_threaded(l);
		struct pf_error tried = {0};
		const char *missing = NULL;
		enum pf_status st = order[i].fill(l, in, &tried);
		if (st == PF_OK && pf_layout_complete(l, &missing)) {
			strip_root_prefix(t, l->source_detail);
			return PF_OK;
		}
		/* A build the walker cannot read is refused, not worked
		 * around with a less trusted source. */
		if (st == PF_ERR_UNSUPPORTED)
			return pf_fail(err, st, "process %d: %s", (int)t->pid,
				       tried.message);
		if (st == PF_OK)
			snprintf(tried.message, sizeof tried.message,
				 "%s lacks %s", l->source_detail, missing);
		used += (size_t)snprintf(
			why + used, used < sizeof why ? sizeof why - used : 0,
			"%s%s: %s", used ? "; " : "",
			pf_layout_source_name(order[i].source), tried.message);
	}
	return pf_fail(err, PF_ERR_NO_OFFSETS,
		       "no structure offsets for Python %u.%u in %s (%s)",
		       t->major, t->minor, t->object_path, why);
}

enum pf_status pf_target_open(struct pf_target *t, pid_t pid,
			      struct pf_mem *mem, unsigned sources,
			      struct pf_error *err)
{
	memset(t, 0, sizeof *t);
	t->pid = pid;
	t->sources = sources;
	struct pf_maps maps;
	int rc = pf_maps_read(&maps, pid);
	if (rc == -ENOENT || rc == -ESRCH)
		return pf_fail(err, PF_ERR_NO_PROCESS,
			       "process %d does not exist or has exited",
			       (int)pid);
	if (rc == -EACCES || rc == -EPERM)
		return pf_fail(err, PF_ERR_PERMISSION,
			       "not permitted to read process %d", (int)pid);
	if (rc != 0)
		return pf_fail(err, PF_ERR_INTERNAL,
			       "cannot read the mappings of process %d: %s",
			       (int)pid, strerror(-rc));

	enum pf_status st = find_object(t, &maps, err);
	char elf_path[4200];
	host_path(t, elf_path, sizeof elf_path);
	struct pf_elf *elf = st == PF_OK ? pf_elf_open(elf_path) : NULL;
	uint64_t runtime;
	if (st != PF_OK) {
		/* err says why */
	} else if (elf == NULL) {
		st = pf_fail(err, PF_ERR_NOT_PYTHON,
			     "process %d: cannot read %s as ELF", (int)pid,
			     t->object_path);
	} else if (!pf_elf_symbol(elf, "_PyRuntime", &runtime, NULL)) {
		unsigned major, minor;
		/* Python < 3.7 has no _PyRuntime at all. */
		if (version_from_name(t->object_path, &major, &minor))
			st = pf_fail(err, PF_ERR_UNSUPPORTED,
				     "process %d runs Python %u.%u, which is "
				     "not supported",
				     (int)pid, major, minor);
		else
			st = pf_fail(err, PF_ERR_NOT_PYTHON,
				     "process %d is not a Python process "
				     "(no _PyRuntime in %s)",
				     (int)pid, t->object_path);
	} else {
		uint64_t bias = pf_maps_base(&maps, t->object_path) -
				pf_elf_load_vaddr(elf);
		t->runtime = bias + runtime;
		/* Only Py_REF_DEBUG builds define it, and Py_DEBUG implies
		 * Py_REF_DEBUG. */
		uint64_t unused;
		t->debug_build = pf_elf_symbol(elf, "_Py_NegativeRefcount",
					       &unused, NULL);
		uint64_t type;
		if (pf_elf_symbol(elf, "PyModule_Type", &type, NULL))
			t->module_type = bias + type;
		if (pf_elf_symbol(elf, "PyFrozenSet_Type", &type, NULL))
			t->frozenset_type = bias + type;
		st = find_version(t, elf, bias, mem, err);
		if (st == PF_OK)
			st = choose_layout(
				t,
				&(struct source_input){mem, t->runtime,
						       elf_path,
						       t->debug_build},
				sources, err);
	}
	pf_elf_close(elf);
	pf_maps_free(&maps);
	return st;
}

void pf_target_modules_layout(struct pf_target *t)
{
	struct pf_layout *l = &t->layout, d;
	const char *missing = NULL;
	char elf_path[4200];
	if (t->modules_layout_tried)
		return;
	t->modules_layout_tried = true;
	host_path(t, elf_path, sizeof elf_path);
	/* Only the debug offsets leave gaps to fill: a DWARF layout holds
	 * all the DWARF has, and the shipped table describes another build,
	 * so it may not fill in for this one. */
	if (l->source != PF_SOURCE_DEBUG_OFFSETS ||
	    !(t->sources & PF_SOURCE_BIT(PF_SOURCE_DWARF)) ||
	    pf_layout_modules_complete(l, &missing) ||
	    !pf_layout_init_version(&d, t->major, t->minor, t->micro) ||
	    pf_layout_from_dwarf(&d, elf_path, NULL) != PF_OK)
		return;
	/* Only from DWARF that agrees with every offset the debug offsets
	 * give, read sizes aside: those are whole structs there, the end of
	 * the last field read here. */
	int64_t frame_size = d.frame.size, code_size = d.code.size;
	d.frame.size = l->frame.size;
	d.code.size = l->code.size;
#define AGREE_(g, f)                                                          \
	if (l->g.f != PF_NO_OFFSET && d.g.f != PF_NO_OFFSET &&               \
	    l->g.f != d.g.f)                                                 \
		return;
	PF_LAYOUT_OFFSET_FIELDS(AGREE_)
#undef AGREE_
	d.frame.size = frame_size;
	d.code.size = code_size;
#define FILL_(g, f)                                                           \
	if (l->g.f == PF_NO_OFFSET)                                          \
		l->g.f = d.g.f;
	PF_LAYOUT_OFFSET_FIELDS(FILL_)
#undef FILL_
	strip_root_prefix(t, d.source_detail);
	size_t used = strlen(l->source_detail);
	snprintf(l->source_detail + used, sizeof l->source_detail - used,
		 ", the rest from DWARF in %s", d.source_detail);
}
