#include "layout/py_target.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "elf/elf_symbols.h"
#include "layout/interp_scan.h"
#include "layout/layout_debug_offsets.h"
#include "layout/layout_dwarf.h"
#include "layout/layout_tables.h"
#include "layout/offset_cache.h"
#include "process/proc_maps.h"

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

bool pf_is_libpython(const char *path)
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

/* The main executable's path (as the target names it) and first mapping. */
static enum pf_status find_executable(const struct pf_target_view *v,
				      char *path, size_t size,
				      const struct pf_mapping **found,
				      struct pf_error *err)
{
	if (v->executable == NULL)
		return pf_fail(err, v->exe_err.status, "%s",
			       v->exe_err.message);
	snprintf(path, size, "%s", v->executable);
	*found = pf_maps_find(v->maps, path);
	if (*found == NULL)
		return pf_fail(err, PF_ERR_NOT_PYTHON,
			       "process %d does not map its executable %s",
			       (int)v->pid, path);
	return PF_OK;
}

/* The interpreter's symbols pf_target_open looks for, in one pass. */
enum {
	SYM_RUNTIME,
	SYM_TSTATE_CURRENT,  /* 2.7 and 3.6 have no _PyRuntime; they export
	                        this one */
	SYM_NEGATIVE_REFCOUNT,
	SYM_MODULE_TYPE,
	SYM_FROZENSET_TYPE,
	SYM_CORO_TYPE,
	SYM_GEN_TYPE,
	SYM_PY_VERSION,
	SYM_INTERP_HEAD,     /* a static of Python/pystate.c: only in
	                        .symtab */
	NSYMS
};

static enum pf_status find_version(struct pf_target *t,
				   const struct pf_elf_wanted *syms,
				   uint64_t bias, struct pf_mem *mem,
				   struct pf_error *err)
{
	uint64_t hex;
	/* Only the debug offsets (3.13+) tell a free-threaded build, and
	 * only 3.13+ has one. */
	bool offsets = t->runtime && pf_debug_offsets_version(
					     mem, t->runtime, &hex,
					     &t->free_threaded);
	/* Py_Version (3.11+) and the debug offsets' header are exact; older
	 * versions name themselves only in the file name. */
	if ((syms[SYM_PY_VERSION].found &&
	     pf_mem_read_u64(mem, bias + syms[SYM_PY_VERSION].value, &hex)) ||
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
	struct pf_target *target;
	struct pf_mem *mem;
	uint64_t runtime;
	const char *elf_path;
	bool debug_build;
};

/* Names a file of the target's as the target does: the DWARF may come
 * from a debug file under its root. */
static void strip_root_prefix(const struct pf_target *t, char *path)
{
	size_t n = strlen(t->root);
	if (n > 0 && strncmp(path, t->root, n) == 0 && path[n] == '/')
		memmove(path, path + n, strlen(path + n) + 1);
}

/* The first reason the offset cache went unused, for -v. */
static void cache_note(struct pf_target *t, const char *what, const char *why)
{
	if (t->cache_note[0] == '\0')
		snprintf(t->cache_note, sizeof t->cache_note, "%s: %s", what,
			 why);
}

/* The cache directory, when the cache may and can be used. */
static bool user_cache_dir(struct pf_target *t, char *dir, size_t size)
{
	char why[400];
	if (t->no_cache)
		return false;
	if (!pf_offset_cache_dir(dir, size, why, sizeof why)) {
		cache_note(t, "offset cache not used", why);
		return false;
	}
	return true;
}

/* The cache directory for the entries of the object with build_id, when
 * the cache may and can be used. */
static bool cache_dir(struct pf_target *t, const char *build_id, char *dir,
		      size_t size)
{
	if (!t->no_cache && build_id[0] == '\0') {
		cache_note(t, "offset cache not used",
			   "the ELF has no build-id");
		return false;
	}
	return user_cache_dir(t, dir, size);
}

/* ", from the cache in DIR" after detail; a long cache path is only cut in
 * -v's note. */
static void say_cached(char *detail, size_t size, const char *dir)
{
	char note[4200];
	snprintf(note, sizeof note, ", from the cache in %.4096s", dir);
	strncat(detail, note, size - strlen(detail) - 1);
}

/* path's ELF file with what the offset cache keeps of it: a dump of an
 * interpreter seen before then neither loads libelf nor reads the file. */
static struct pf_elf *open_elf(struct pf_target *t, const char *path)
{
	struct pf_elf *elf = pf_elf_open_lazily(path);
	char dir[4096], key[40], stamp[128], why[400], *facts;
	size_t len;
	if (elf == NULL || !user_cache_dir(t, dir, sizeof dir))
		return elf;
	pf_elf_identity(elf, key, sizeof key, stamp, sizeof stamp);
	switch (pf_elf_facts_cache_load(dir, key, stamp, &facts, &len, why,
					sizeof why)) {
	case PF_CACHE_HIT:
		pf_elf_use_facts(elf, facts, len);
		free(facts);
		break;
	case PF_CACHE_INVALID:
		cache_note(t, "offset cache entry ignored", why);
		break;
	case PF_CACHE_MISS:
		break;
	}
	return elf;
}

/* Closes elf, keeping what was learnt of it for the next dump. */
static void close_elf(struct pf_target *t, struct pf_elf *elf,
		      const char *path)
{
	char dir[4096];
	size_t len;
	const char *facts = elf ? pf_elf_new_facts(elf, &len) : NULL;
	if (facts && user_cache_dir(t, dir, sizeof dir)) {
		char key[40], stamp[128], why[400], name[4200];
		pf_elf_identity(elf, key, sizeof key, stamp, sizeof stamp);
		/* The entry outlives this process: no /proc/PID/root in it. */
		snprintf(name, sizeof name, "%s", path);
		strip_root_prefix(t, name);
		if (!pf_elf_facts_cache_store(dir, key, stamp, name, facts,
					      len, why, sizeof why))
			cache_note(t, "offset cache not written", why);
	}
	pf_elf_close(elf);
}

/* A static interpreter that has loaded a libpython too (ctypes, or an
 * extension linked with it) holds two interpreters, like two
 * libpythons. */
static enum pf_status refuse_python_executable(struct pf_target *t,
					       const struct pf_target_view *v,
					       struct pf_error *err)
{
	char path[4096];
	const struct pf_mapping *m;
	struct pf_target_file file;
	struct pf_error ignored = {0};
	if (find_executable(v, path, sizeof path, &m, &ignored) != PF_OK ||
	    v->find_file(v, m, &file, &ignored) != PF_OK)
		return PF_OK;
	struct pf_elf *elf = open_elf(t, file.read_path);
	uint64_t runtime;
	bool has_python = elf && pf_elf_symbol(elf, "_PyRuntime", &runtime,
					       NULL);
	close_elf(t, elf, file.read_path);
	if (!has_python)
		return PF_OK;
	return pf_fail(err, PF_ERR_UNSUPPORTED,
		       "process %d has Python in its executable %s and a "
		       "Python library loaded (%s), so which one runs its "
		       "threads cannot be told",
		       (int)t->pid, path, t->object_path);
}

/* The shared libpython if one is mapped, else the main executable; *found
 * is its first mapping. */
static enum pf_status find_object(struct pf_target *t,
				  const struct pf_target_view *v,
				  const struct pf_mapping **found,
				  struct pf_error *err)
{
	const struct pf_maps *maps = v->maps;
	*found = NULL;
	for (size_t i = 0; i < maps->count; i++) {
		const struct pf_mapping *m = &maps->items[i];
		if (m->path == NULL || m->offset != 0 ||
		    !pf_is_libpython(m->path))
			continue;
		/* Two files, even at one path (an upgraded library loaded
		 * again after the old one was replaced): two interpreters,
		 * and nothing tells which one the threads belong to. */
		if (*found && (strcmp((*found)->path, m->path) != 0 ||
			       (*found)->inode != m->inode))
			return pf_fail(err, PF_ERR_UNSUPPORTED,
				       "process %d has two Python libraries "
				       "loaded (%s and %s), so which one "
				       "runs its threads cannot be told",
				       (int)t->pid, (*found)->path, m->path);
		if (*found == NULL)
			*found = m;
	}
	if (*found) {
		snprintf(t->object_path, sizeof t->object_path, "%s",
			 (*found)->path);
		return refuse_python_executable(t, v, err);
	}
	return find_executable(v, t->object_path, sizeof t->object_path,
			       found, err);
}

/* DWARF through the offset cache: this build's entry gives the offsets at
 * once; otherwise they are derived and the entry written for next time.
 * A cache that cannot be used costs only the note. */
static enum pf_status dwarf_layout(struct pf_target *t, struct pf_layout *l,
				   const char *elf_path, struct pf_error *err)
{
	char dir[4096], why[400];
	bool cache = cache_dir(t, t->build_id, dir, sizeof dir);
	if (cache) {
		struct pf_layout cached = *l;
		const char *missing = NULL;
		switch (pf_offset_cache_load(dir, t->build_id, &cached, why,
					     sizeof why)) {
		case PF_CACHE_HIT:
			if (pf_layout_complete(&cached, &missing)) {
				say_cached(cached.source_detail,
					   sizeof cached.source_detail, dir);
				*l = cached;
				return PF_OK;
			}
			snprintf(why, sizeof why, "entry lacks %s", missing);
			/* fall through */
		case PF_CACHE_INVALID:
			cache_note(t, "offset cache entry ignored", why);
			break;
		case PF_CACHE_MISS:
			break;
		}
	}
	enum pf_status st = pf_layout_from_dwarf(l, elf_path,
						 t->debuginfo_path, err);
	if (st != PF_OK)
		return st;
	/* The entry outlives this process: no /proc/PID/root in it. */
	strip_root_prefix(t, l->source_detail);
	if (cache && !pf_offset_cache_store(dir, t->build_id, l, why,
					    sizeof why))
		cache_note(t, "offset cache not written", why);
	return PF_OK;
}

enum pf_status pf_target_unit_members(struct pf_target *t,
				      const char *elf_path,
				      const char *build_id, const char *kind,
				      const char *unit_suffix,
				      struct pf_dwarf_member *members, size_t n,
				      char *where, size_t where_size,
				      struct pf_error *err)
{
	char dir[4096], why[400], found[4200];
	bool cache = cache_dir(t, build_id, dir, sizeof dir);
	if (cache) {
		switch (pf_member_cache_load(dir, build_id, kind, unit_suffix,
					     members, n, found, sizeof found,
					     why, sizeof why)) {
		case PF_CACHE_HIT:
			snprintf(where, where_size, "%s", found);
			say_cached(where, where_size, dir);
			return PF_OK;
		case PF_CACHE_INVALID:
			cache_note(t, "offset cache entry ignored", why);
			break;
		case PF_CACHE_MISS:
			break;
		}
	}
	enum pf_status st =
		pf_dwarf_unit_members(elf_path, t->debuginfo_path, unit_suffix,
				      members, n, found, sizeof found, err);
	if (st != PF_OK)
		return st;
	/* The entry outlives this process: no /proc/PID/root in it. */
	strip_root_prefix(t, found);
	snprintf(where, where_size, "%s", found);
	if (cache && !pf_member_cache_store(dir, build_id, kind, unit_suffix,
					    members, n, found, why,
					    sizeof why))
		cache_note(t, "offset cache not written", why);
	return PF_OK;
}

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
	return dwarf_layout(in->target, l, in->elf_path, err);
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
	bool fix_given = false;
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
		/* A source that says what to install (libdw1) says the first
		 * fix: the status's own hint (debug symbols) comes after. */
		fix_given |= tried.fix_given;
		used += (size_t)snprintf(
			why + used, used < sizeof why ? sizeof why - used : 0,
			"%s%s: %s", used ? "; " : "",
			pf_layout_source_name(order[i].source), tried.message);
	}
	return (fix_given ? pf_fail_with_fix : pf_fail)(
		err, PF_ERR_NO_OFFSETS,
		"no structure offsets for Python %u.%u in %s (%s)", t->major,
		t->minor, t->object_path, why);
}

/* Where the walker starts: the interpreter list's head pointer, and for
 * builds without a GIL struct the pointer to the running thread state. */
static enum pf_status find_anchors(struct pf_target *t,
				   const struct pf_elf_wanted *syms,
				   const struct pf_maps *maps,
				   struct pf_mem *mem, uint64_t tstate_current,
				   uint64_t bias, struct pf_error *err)
{
	const struct pf_layout *l = &t->layout;
	if (l->anchor == PF_ANCHOR_RUNTIME) {
		if (t->runtime == 0)
			return pf_fail(err, PF_ERR_NOT_PYTHON,
				       "process %d: no _PyRuntime in %s, which "
				       "Python %u.%u has",
				       (int)t->pid, t->object_path, t->major,
				       t->minor);
		t->interp_head =
			t->runtime + (uint64_t)l->runtime.interpreters_head;
		return PF_OK;
	}
	t->tstate_current = tstate_current;
	if (syms[SYM_INTERP_HEAD].found) {
		t->interp_head = bias + syms[SYM_INTERP_HEAD].value;
		return PF_OK;
	}
	if (pf_scan_interp_head(mem, maps, t->object_path, l,
				&t->interp_head))
		return PF_OK;
	return pf_fail(err, PF_ERR_NOT_READY,
		       "process %d: %s has no interp_head symbol and no "
		       "interpreter with a thread state was found in its data; "
		       "Python may be starting up or shutting down",
		       (int)t->pid, t->object_path);
}

static void find_object_types(struct pf_elf *elf, uint64_t bias, bool py2,
			      struct pf_object_types *types)
{
	const struct {
		const char *name;
		uint64_t *addr;
	} symbols[] = {
		{"_Py_NoneStruct", &types->none},
		{"_Py_TrueStruct", &types->true_obj},
		{py2 ? "_Py_ZeroStruct" : "_Py_FalseStruct", &types->false_obj},
		{py2 ? "PyInt_Type" : NULL, &types->int_type},
		{"PyLong_Type", &types->long_type},
		{"PyFloat_Type", &types->float_type},
		{py2 ? "PyString_Type" : "PyUnicode_Type", &types->str_type},
		{py2 ? NULL : "PyBytes_Type", &types->bytes_type},
		{"PyTuple_Type", &types->tuple_type},
		{"PyList_Type", &types->list_type},
		{"PyDict_Type", &types->dict_type},
		/* 2.7's sets are not read: their layout is not described. */
		{py2 ? NULL : "PySet_Type", &types->set_type},
		{py2 ? NULL : "PyFrozenSet_Type", &types->frozenset_type},
		{"PyCell_Type", &types->cell_type},
		{py2 ? NULL : "_PySet_Dummy", &types->set_dummy},
	};
	enum { N = sizeof symbols / sizeof symbols[0] };
	struct pf_elf_wanted wanted[N];
	uint64_t *addrs[N];
	size_t n = 0;
	for (size_t i = 0; i < N; i++)
		if (symbols[i].name) {
			wanted[n] = (struct pf_elf_wanted){.name = symbols[i].name};
			addrs[n++] = symbols[i].addr;
		}
	pf_elf_symbols(elf, wanted, n);
	for (size_t i = 0; i < n; i++)
		if (wanted[i].found)
			*addrs[i] = bias + wanted[i].value;
}

enum pf_status pf_target_open_view(struct pf_target *t,
				   const struct pf_target_view *v,
				   struct pf_mem *mem,
				   const struct pf_offsets_config *config,
				   struct pf_error *err)
{
	memset(t, 0, sizeof *t);
	t->pid = v->pid;
	t->sources = config->sources;
	t->debuginfo_path = config->debuginfo_path;
	t->no_cache = config->no_cache;
	if (v->root)
		snprintf(t->root, sizeof t->root, "%s", v->root);
	pid_t pid = v->pid;
	const struct pf_mapping *mapping;
	enum pf_status st = find_object(t, v, &mapping, err);
	if (st == PF_OK)
		st = v->find_file(v, mapping, &t->file, err);
	const char *elf_path = t->file.read_path;
	struct pf_elf *elf = st == PF_OK ? open_elf(t, elf_path) : NULL;
	char why[512];
	enum pf_elf_kind kind =
		elf ? pf_elf_check(elf, why, sizeof why) : PF_ELF_NOT_ELF;
	if (kind != PF_ELF_READABLE) {
		close_elf(t, elf, elf_path);
		elf = NULL;
	}
	struct pf_elf_wanted syms[NSYMS] = {
		[SYM_RUNTIME] = {.name = "_PyRuntime"},
		[SYM_TSTATE_CURRENT] = {.name = "_PyThreadState_Current"},
		/* Only Py_REF_DEBUG builds define it, and Py_DEBUG implies
		 * Py_REF_DEBUG. */
		[SYM_NEGATIVE_REFCOUNT] = {.name = "_Py_NegativeRefcount"},
		[SYM_MODULE_TYPE] = {.name = "PyModule_Type"},
		[SYM_FROZENSET_TYPE] = {.name = "PyFrozenSet_Type"},
		[SYM_CORO_TYPE] = {.name = "PyCoro_Type"},
		[SYM_GEN_TYPE] = {.name = "PyGen_Type"},
		[SYM_PY_VERSION] = {.name = "Py_Version"},
	};
	/* interp_head, last, is looked up on its own below. */
	if (elf)
		pf_elf_symbols(elf, syms, SYM_INTERP_HEAD);
	bool has_runtime = syms[SYM_RUNTIME].found;
	/* Only a Python without _PyRuntime (2.7, 3.6) needs it, and only
	 * .symtab, the longest table, has it. */
	syms[SYM_INTERP_HEAD] =
		(struct pf_elf_wanted){.name = "interp_head", .local = true};
	if (elf && !has_runtime)
		pf_elf_symbols(elf, &syms[SYM_INTERP_HEAD], 1);
	bool has_tstate_current = syms[SYM_TSTATE_CURRENT].found;
	if (st != PF_OK) {
		/* err says why */
	} else if (kind == PF_ELF_NO_LIBELF) {
		st = pf_fail_with_fix(err, PF_ERR_INTERNAL, "%s", why);
	} else if (elf == NULL) {
		st = pf_fail(err, PF_ERR_NOT_PYTHON,
			     "process %d: cannot read %s as ELF", (int)pid,
			     t->object_path);
	} else if (!has_runtime && !has_tstate_current) {
		st = pf_fail(err, PF_ERR_NOT_PYTHON,
			     "process %d is not a Python process (no _PyRuntime "
			     "or _PyThreadState_Current in %s)",
			     (int)pid, t->object_path);
	} else {
		uint64_t bias = mapping->start - pf_elf_load_vaddr(elf);
		t->runtime = has_runtime ? bias + syms[SYM_RUNTIME].value : 0;
		t->debug_build = syms[SYM_NEGATIVE_REFCOUNT].found;
		if (syms[SYM_MODULE_TYPE].found)
			t->module_type = bias + syms[SYM_MODULE_TYPE].value;
		if (syms[SYM_FROZENSET_TYPE].found)
			t->frozenset_type =
				bias + syms[SYM_FROZENSET_TYPE].value;
		if (syms[SYM_CORO_TYPE].found)
			t->coro_type = bias + syms[SYM_CORO_TYPE].value;
		if (syms[SYM_GEN_TYPE].found)
			t->gen_type = bias + syms[SYM_GEN_TYPE].value;
		pf_elf_build_id(elf, t->build_id, sizeof t->build_id);
		st = find_version(t, syms, bias, mem, err);
		find_object_types(elf, bias, t->major == 2, &t->types);
		double start = pf_now_ms();
		if (st == PF_OK)
			st = choose_layout(
				t,
				&(struct source_input){t, mem, t->runtime,
						       elf_path,
						       t->debug_build},
				t->sources, err);
		t->offsets_ms = pf_now_ms() - start;
		if (st == PF_OK)
			st = find_anchors(
				t, syms, v->maps, mem,
				has_tstate_current
					? bias + syms[SYM_TSTATE_CURRENT].value
					: 0,
				bias, err);
	}
	close_elf(t, elf, elf_path);
	return st;
}


static enum pf_status find_live_file(const struct pf_target_view *v,
				     const struct pf_mapping *m,
				     struct pf_target_file *file,
				     struct pf_error *err)
{
	const bool *other_root = v->ctx;
	return pf_target_file_find(file, v->pid, *other_root, m, err);
}

enum pf_status pf_target_open(struct pf_target *t, pid_t pid,
			      struct pf_mem *mem,
			      const struct pf_offsets_config *config,
			      struct pf_error *err)
{
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
	char link[64], exe[4096], root[64];
	snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
	snprintf(root, sizeof root, "/proc/%d/root", (int)pid);
	bool other_root = pf_target_other_root(pid);
	struct pf_target_view view = {
		.pid = pid, .maps = &maps, .root = root,
		.find_file = find_live_file, .ctx = &other_root};
	ssize_t n = readlink(link, exe, sizeof exe - 1);
	if (n < 0) {
		pf_fail(&view.exe_err,
			errno == ENOENT ? PF_ERR_NO_PROCESS : PF_ERR_PERMISSION,
			"cannot read the executable of process %d: %s",
			(int)pid, strerror(errno));
	} else {
		exe[n] = '\0';
		pf_maps_strip_deleted(exe);
		view.executable = exe;
	}
	enum pf_status st = pf_target_open_view(t, &view, mem, config, err);
	pf_maps_free(&maps);
	return st;
}

/* Fills the gaps the debug offsets leave from the target's DWARF, once. */
static void fill_from_dwarf(struct pf_target *t)
{
	struct pf_layout *l = &t->layout, d;
	if (t->dwarf_fill_tried)
		return;
	t->dwarf_fill_tried = true;
	/* Only the debug offsets leave gaps to fill: a DWARF layout holds
	 * all the DWARF has, and the shipped table describes another build,
	 * so it may not fill in for this one. */
	if (l->source != PF_SOURCE_DEBUG_OFFSETS ||
	    !(t->sources & PF_SOURCE_BIT(PF_SOURCE_DWARF)) ||
	    !pf_layout_init_version(&d, t->major, t->minor, t->micro) ||
	    dwarf_layout(t, &d, t->file.read_path, NULL) != PF_OK)
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
	size_t used = strlen(l->source_detail);
	snprintf(l->source_detail + used, sizeof l->source_detail - used,
		 ", the rest from DWARF in %s", d.source_detail);
}

void pf_target_modules_layout(struct pf_target *t)
{
	const char *missing = NULL;
	if (!pf_layout_modules_complete(&t->layout, &missing) ||
	    !pf_layout_names_complete(&t->layout, &missing))
		fill_from_dwarf(t);
}

void pf_target_registry_layout(struct pf_target *t)
{
	fill_from_dwarf(t);
}
