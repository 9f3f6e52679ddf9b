#include "layout/asyncio_layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "elf/elf_symbols.h"
#include "layout/layout_dwarf.h"
#include "layout/layout_tables.h"
#include "process/proc_maps.h"
#include "process/target_file.h"

#define SECTION ".AsyncioDebug"
/* Py_AsyncioModuleDebugOffsets of 3.14: three groups of uint64_t, each
 * led by the size of its struct. */
#define BLOB_WORDS PF_ASYNCIO_BLOB_WORDS
#define MAX_STRUCT_SIZE (1u << 20)

/* One member: its index in the blob, where it goes, and the bytes the
 * walker reads at it (a pointer, a char, a two-pointer llist_node). */
struct member {
	const char *name;
	unsigned index;
	size_t width;
};

static const struct member task_members[] = {
	{"task_name", 1, 8},         {"task_awaited_by", 2, 8},
	{"task_is_task", 3, 1},      {"task_awaited_by_is_set", 4, 1},
	{"task_coro", 5, 8},         {"task_node", 6, 16},
};
static const struct member interp_members[] = {
	{"asyncio_tasks_head", 8, 16},
};
static const struct member tstate_members[] = {
	{"asyncio_running_loop", 10, 8},
	{"asyncio_running_task", 11, 8},
	{"asyncio_tasks_head", 12, 16},
};

static bool check_group(const uint64_t *w, unsigned size_index,
			const char *group, const struct member *m, size_t n,
			char *note, size_t note_size)
{
	uint64_t size = w[size_index];
	if (size == 0 || size > MAX_STRUCT_SIZE) {
		snprintf(note, note_size,
			 "_AsyncioDebug %s.size (%llu) is not a struct size",
			 group, (unsigned long long)size);
		return false;
	}
	for (size_t i = 0; i < n; i++)
		if (w[m[i].index] > size - m[i].width) {
			snprintf(note, note_size,
				 "_AsyncioDebug field %s.%s (%llu) lies "
				 "outside its struct of %llu bytes",
				 group, m[i].name,
				 (unsigned long long)w[m[i].index],
				 (unsigned long long)size);
			return false;
		}
	return true;
}

const char *const pf_asyncio_ctask_word_names[PF_ASYNCIO_CTASK_WORDS] = {
	"ctask.size", "ctask.loop", "ctask.state",
	"ctask.fut_waiter", "ctask.coro", "ctask.name",
};
/* task_state is an enum; the rest pointers. */
const int64_t pf_asyncio_ctask_widths[PF_ASYNCIO_CTASK_WORDS] = {
	0, 8, 4, 8, 8, 8,
};

int64_t *pf_asyncio_ctask_field(struct pf_asyncio_layout *a, size_t i)
{
	int64_t *const fields[PF_ASYNCIO_CTASK_WORDS] = {
		&a->ctask.size,       &a->ctask.loop, &a->ctask.state,
		&a->ctask.fut_waiter, &a->ctask.coro, &a->ctask.name,
	};
	return i < PF_ASYNCIO_CTASK_WORDS ? fields[i] : NULL;
}

const char *const pf_asyncio_word_names[PF_ASYNCIO_BLOB_WORDS] = {
	"task.size",         "task.name",        "task.awaited_by",
	"task.is_task",      "task.awaited_by_is_set", "task.coro",
	"task.node",         "interp.size",      "interp.tasks_head",
	"tstate.size",       "tstate.running_loop", "tstate.running_task",
	"tstate.tasks_head",
};

int64_t *pf_asyncio_layout_field(struct pf_asyncio_layout *a, size_t i)
{
	int64_t *const fields[PF_ASYNCIO_BLOB_WORDS] = {
		&a->task.size,       &a->task.name,
		&a->task.awaited_by, &a->task.is_task,
		&a->task.awaited_by_is_set, &a->task.coro,
		&a->task.node,       &a->interp.size,
		&a->interp.tasks_head, &a->tstate.size,
		&a->tstate.running_loop, &a->tstate.running_task,
		&a->tstate.tasks_head,
	};
	return i < PF_ASYNCIO_BLOB_WORDS ? fields[i] : NULL;
}

bool pf_asyncio_layout_from_blob(struct pf_asyncio_layout *out,
				 const void *blob, size_t len, char *note,
				 size_t note_size)
{
	uint64_t w[BLOB_WORDS];
	if (len < sizeof w) {
		snprintf(note, note_size,
			 "the _AsyncioDebug section has %zu bytes, not %zu",
			 len, sizeof w);
		return false;
	}
	memcpy(w, blob, sizeof w);
	if (!check_group(w, 0, "asyncio_task_object", task_members,
			 sizeof task_members / sizeof *task_members, note,
			 note_size) ||
	    !check_group(w, 7, "asyncio_interpreter_state", interp_members, 1,
			 note, note_size) ||
	    !check_group(w, 9, "asyncio_thread_state", tstate_members,
			 sizeof tstate_members / sizeof *tstate_members, note,
			 note_size))
		return false;
	for (size_t i = 0; i < BLOB_WORDS; i++)
		*pf_asyncio_layout_field(out, i) = (int64_t)w[i];
	return true;
}

/* "_asyncio.cpython-314-x86_64-linux-gnu.so" and the like. */
static bool is_asyncio_module(const char *path)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return strncmp(base, "_asyncio.", 9) == 0;
}

/* The section's run-time address in the object mapped at m; 0 when the
 * object has no such section.  *builtin tells whether the object holds
 * the _asyncio module itself; out's read_path and build_id get where the
 * object is read and its build-id. */
static uint64_t section_address(const struct pf_target *t,
				const struct pf_target_view *view,
				const struct pf_mapping *m, uint64_t *size,
				bool *builtin, struct pf_asyncio_layout *out)
{
	struct pf_target_file file;
	struct pf_error ignored = {0};
	uint64_t addr = 0, init;
	*builtin = false;
	if ((view ? view->find_file(view, m, &file, &ignored)
		  : pf_target_file_find(&file, t->pid,
						t->file.other_root, m,
						&ignored)) != PF_OK)
		return 0;
	snprintf(out->read_path, sizeof out->read_path, "%s", file.read_path);
	struct pf_elf *elf = pf_elf_open(file.read_path);
	if (elf)
		pf_elf_build_id(elf, out->build_id, sizeof out->build_id);
	if (elf && pf_elf_section(elf, SECTION, &addr, size) && addr != 0)
		addr += m->start - pf_elf_load_vaddr(elf);
	else
		addr = 0;
	*builtin = elf && pf_elf_symbol(elf, "PyInit__asyncio", &init, NULL);
	pf_elf_close(elf);
	return addr;
}

/* TaskObj from the DWARF of elf_path: through t's offset cache under the
 * build-id build_id, or, without t, straight from debuginfo_path's. */
static enum pf_status read_ctask(struct pf_target *t, const char *elf_path,
				 const char *build_id,
				 const char *debuginfo_path,
				 struct pf_asyncio_layout *out, char *detail,
				 size_t detail_size, struct pf_error *err)
{
	/* TaskObj's words after its size, in order. */
	struct pf_dwarf_member m[] = {
		{"TaskObj", "task_loop", true, PF_NO_OFFSET, 0, 0},
		{"TaskObj", "task_state", false, PF_NO_OFFSET, 0, 0},
		{"TaskObj", "task_fut_waiter", true, PF_NO_OFFSET, 0, 0},
		{"TaskObj", "task_coro", true, PF_NO_OFFSET, 0, 0},
		{"TaskObj", "task_name", true, PF_NO_OFFSET, 0, 0},
	};
	const size_t n = sizeof m / sizeof *m;
	const char *unit = "_asynciomodule.c";
	enum pf_status st =
		t ? pf_target_unit_members(t, elf_path, build_id, "task", unit,
					   m, n, detail, detail_size, err)
		  : pf_dwarf_unit_members(elf_path, debuginfo_path, unit, m, n,
					  detail, detail_size, err);
	if (st != PF_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		if (m[i].offset == PF_NO_OFFSET)
			return pf_fail(err, PF_ERR_NO_OFFSETS,
				       "the DWARF in %s has no TaskObj.%s", detail,
				       m[i].member);
		if (pf_dwarf_member_check(&m[i], pf_asyncio_ctask_widths[i + 1],
					  detail, err) != PF_OK)
			return err->status;
		*pf_asyncio_ctask_field(out, i + 1) = m[i].offset;
	}
	out->ctask.size = m[0].struct_size;
	return PF_OK;
}

enum pf_status pf_asyncio_ctask_from_dwarf(const char *elf_path,
					   const char *debuginfo_path,
					   struct pf_asyncio_layout *out,
					   char *detail, size_t detail_size,
					   struct pf_error *err)
{
	return read_ctask(NULL, elf_path, "", debuginfo_path, out, detail,
			  detail_size, err);
}

/* The shipped row of TaskObj for t's version, generated from the DWARF
 * of a real build's _asyncio. */
static bool ctask_from_table(const struct pf_target *t,
			     struct pf_asyncio_layout *out)
{
	size_t count;
	const struct pf_asyncio_table_row *rows = pf_asyncio_table_rows(&count);
	for (size_t i = 0; i < count; i++) {
		const struct pf_asyncio_table_row *r = &rows[i];
		if (r->major != t->major || r->minor != t->minor)
			continue;
		out->ctask.size = r->size;
		out->ctask.loop = r->loop;
		out->ctask.state = r->state;
		out->ctask.fut_waiter = r->fut_waiter;
		out->ctask.coro = r->coro;
		out->ctask.name = r->name;
		snprintf(out->source_detail, sizeof out->source_detail,
			 "the table row of %s", r->provenance);
		return true;
	}
	return false;
}

/* TaskObj of a 3.11-3.13 _asyncio, whose file section_address found
 * (out->read_path, the live process's or the core's): from its DWARF (the
 * -dbg package's build-id file on Debian) or the cache of it, else from
 * the shipped table, as the thread offsets, in the order of trust the
 * user allows. */
static enum pf_asyncio_found registry_layout(struct pf_target *t,
					     const struct pf_mapping *module,
					     struct pf_asyncio_layout *out,
					     char *note, size_t note_size)
{
	struct pf_error err = {0};
	char path[sizeof out->source_detail - 16];
	out->model = PF_ASYNCIO_REGISTRY;
	if (!(t->sources & PF_SOURCE_BIT(PF_SOURCE_DWARF)))
		pf_fail(&err, PF_ERR_NO_OFFSETS, "DWARF not allowed");
	else if (out->read_path[0] == '\0')
		pf_fail(&err, PF_ERR_NO_OFFSETS, "%s cannot be opened",
			module->path);
	else if (read_ctask(t, out->read_path, out->build_id, NULL, out, path,
			    sizeof path, &err) == PF_OK) {
		snprintf(out->source_detail, sizeof out->source_detail,
			 "the DWARF in %s", path);
		return PF_ASYNCIO_FOUND;
	}
	if ((t->sources & PF_SOURCE_BIT(PF_SOURCE_TABLE)) &&
	    ctask_from_table(t, out))
		return PF_ASYNCIO_FOUND;
	/* The fix first: the cause may be long. */
	snprintf(note, note_size,
		 "asyncio tasks not shown: TaskObj of Python %u.%u is "
		 "unknown, install the interpreter's debug symbols (%s; no "
		 "shipped row %s)",
		 t->major, t->minor, err.message,
		 t->sources & PF_SOURCE_BIT(PF_SOURCE_TABLE) ? "for it"
							      : "allowed");
	return PF_ASYNCIO_UNKNOWN;
}

enum pf_asyncio_found pf_asyncio_layout_find(struct pf_target *t,
					     const struct pf_target_view *view,
					     struct pf_mem *mem,
					     struct pf_asyncio_layout *out,
					     char *note, size_t note_size)
{
	struct pf_maps live = {0};
	memset(out, 0, sizeof *out);
	if (view == NULL && pf_maps_read(&live, t->pid) != 0) {
		snprintf(note, note_size,
			 "asyncio tasks not shown: cannot read the mappings "
			 "of process %d",
			 (int)t->pid);
		return PF_ASYNCIO_UNKNOWN;
	}
	const struct pf_maps maps = view ? *view->maps : live;
	/* An extension module is mapped only once asyncio is imported; a
	 * built-in one is there from the start. */
	const struct pf_mapping *module = NULL, *interp = NULL;
	for (size_t i = 0; i < maps.count; i++) {
		const struct pf_mapping *m = &maps.items[i];
		if (m->path == NULL || m->offset != 0)
			continue;
		if (module == NULL && is_asyncio_module(m->path))
			module = m;
		if (interp == NULL && strcmp(m->path, t->object_path) == 0)
			interp = m;
	}
	uint64_t size = 0, addr = 0;
	bool builtin = false;
	const struct pf_mapping *holder = module ? module : interp;
	if (holder)
		addr = section_address(t, view, holder, &size, &builtin,
				       out);
	enum pf_asyncio_found found = PF_ASYNCIO_FOUND;
	uint64_t blob[BLOB_WORDS];
	char why[160];
	const bool registry = t->major == 3 && t->minor >= 11 &&
			      t->minor <= 13;
	if (module == NULL && !builtin && t->major == 3 && t->minor >= 11) {
		/* Asyncio without its accelerator (or not imported, which
		 * the registry tells): pure-Python tasks only, in
		 * asyncio.tasks' registry on 3.14 too. */
		out->model = PF_ASYNCIO_REGISTRY;
		out->read_path[0] = '\0';
		snprintf(out->source_detail, sizeof out->source_detail,
			 "nowhere: no _asyncio module is loaded, "
			 "only pure-Python tasks are read");
	} else if (module == NULL && !builtin) {
		snprintf(note, note_size,
			 "no asyncio task section: process %d has not "
			 "loaded asyncio's _asyncio module",
			 (int)t->pid);
		found = PF_ASYNCIO_ABSENT;
	} else if (addr == 0 && registry) {
		found = registry_layout(t, module ? module : interp, out, note,
					note_size);
	} else if (addr == 0) {
		snprintf(note, note_size,
			 "asyncio tasks not shown: %s has no %s section "
			 "(the _asyncio of CPython 3.14+ has one; Python "
			 "%u.%u has none)",
			 holder ? holder->path : t->object_path, SECTION,
			 t->major, t->minor);
		found = PF_ASYNCIO_UNKNOWN;
	} else if (!pf_mem_read(mem, addr, blob, sizeof blob)) {
		snprintf(note, note_size,
			 "asyncio tasks not shown: cannot read the %s "
			 "section at 0x%llx",
			 SECTION, (unsigned long long)addr);
		found = PF_ASYNCIO_UNKNOWN;
	} else if (!pf_asyncio_layout_from_blob(out, blob,
						size < sizeof blob
							? (size_t)size
							: sizeof blob,
						why, sizeof why)) {
		snprintf(note, note_size,
			 "asyncio tasks not shown: %s: refusing to guess", why);
		found = PF_ASYNCIO_UNKNOWN;
	} else {
		snprintf(out->source_detail, sizeof out->source_detail,
			 "_AsyncioDebug in %s", holder->path);
	}
	pf_maps_free(&live);
	return found;
}
