#include "layout/asyncio_layout.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "elf/elf_symbols.h"
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
 * the _asyncio module itself; read_path gets where the object is read. */
static uint64_t section_address(const struct pf_target *t,
				const struct pf_mapping *m, uint64_t *size,
				bool *builtin, char *read_path,
				size_t path_size)
{
	struct pf_target_file file;
	struct pf_error ignored = {0};
	uint64_t addr = 0, init;
	*builtin = false;
	if (pf_target_file_find(&file, t->pid, m, &ignored) != PF_OK)
		return 0;
	snprintf(read_path, path_size, "%s", file.read_path);
	struct pf_elf *elf = pf_elf_open(file.read_path);
	if (elf && pf_elf_section(elf, SECTION, &addr, size) && addr != 0)
		addr += m->start - pf_elf_load_vaddr(elf);
	else
		addr = 0;
	*builtin = elf && pf_elf_symbol(elf, "PyInit__asyncio", &init, NULL);
	pf_elf_close(elf);
	return addr;
}

enum pf_asyncio_found pf_asyncio_layout_find(const struct pf_target *t,
					     struct pf_mem *mem,
					     struct pf_asyncio_layout *out,
					     char *note, size_t note_size)
{
	struct pf_maps maps;
	memset(out, 0, sizeof *out);
	if (pf_maps_read(&maps, t->pid) != 0) {
		snprintf(note, note_size,
			 "asyncio tasks not shown: cannot read the mappings "
			 "of process %d",
			 (int)t->pid);
		return PF_ASYNCIO_UNKNOWN;
	}
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
		addr = section_address(t, holder, &size, &builtin,
				       out->read_path, sizeof out->read_path);
	enum pf_asyncio_found found = PF_ASYNCIO_FOUND;
	uint64_t blob[BLOB_WORDS];
	char why[160];
	if (module == NULL && !builtin) {
		snprintf(note, note_size,
			 "no asyncio task section: process %d has not "
			 "loaded asyncio's _asyncio module",
			 (int)t->pid);
		found = PF_ASYNCIO_ABSENT;
	} else if (addr == 0) {
		snprintf(note, note_size,
			 "asyncio tasks not shown: %s has no %s section "
			 "(CPython 3.14+ has one; Python %u.%u tasks are "
			 "not read yet)",
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
	pf_maps_free(&maps);
	return found;
}
