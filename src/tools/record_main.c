/* pyfault-record: dump a running CPython process as pyfault-attach does,
 * and save every byte the dump read, with the layout and the text printed,
 * as a process image (mem_image.h) for replay tests and fuzz seeds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/errors.h"
#include "image/mem_image.h"
#include "image/mem_recorder.h"
#include "process/proc_ctl.h"
#include "walk/py_modules.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"
#include "dump/target_dump.h"
#include "dump/task_dump.h"
#include "format/task_format.h"
#include "walk/walker.h"

static const char usage_text[] =
	"Usage: pyfault-record [--note TEXT] PID OUT\n"
	"Dump the Python threads of process PID as pyfault-attach does, and\n"
	"write what was read, with the dump, as the process image OUT.\n";

/* The walk and, where the version prints it, the "Extension modules" line:
 * the image then holds everything a fatal-error dump reads; and the
 * asyncio tasks, when tasks found them. */
static enum pf_status walk_stopped(struct pf_target *target,
				   struct pf_mem *mem,
				   const struct pf_task_source *tasks,
				   struct pf_snapshot *snap,
				   struct pf_error *err)
{
	struct pf_stopped stopped;
	enum pf_status st = pf_proc_stop_all(&stopped, target->pid, err);
	if (st != PF_OK)
		return st;
	pf_proc_read_thread_ids(&stopped);
	struct pf_walk_input in = {
		.pid = target->pid,
		.mem = mem,
		.layout = &target->layout,
		.runtime = target->runtime,
		.interp_head = target->interp_head,
		.tstate_current = target->tstate_current,
		.stopped = &stopped,
		.current = PF_CURRENT_GIL_HOLDER,
	};
	st = pf_walk(&in, snap, err);
	if (st == PF_OK && target->layout.thread_names)
		pf_read_thread_names(snap, target->pid);
	if (st == PF_OK && target->layout.extension_modules_trailer) {
		struct pf_error ignored = {0};
		pf_read_extension_modules(mem, target, snap->interp,
					  &snap->modules, &ignored);
	}
	char note[320];
	if (st == PF_OK && tasks->found == PF_ASYNCIO_FOUND &&
	    !pf_task_collect(target, mem, tasks, snap, note, sizeof note))
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	pf_proc_resume_all(&stopped);
	return st;
}

static void describe(struct pf_image *img, const struct pf_target *t)
{
	img->pid = (int)t->pid;
	img->runtime = t->runtime;
	img->major = t->major;
	img->minor = t->minor;
	img->micro = t->micro;
	img->micro_known = t->micro_known;
	img->debug_build = t->debug_build;
	img->module_type = t->module_type;
	img->frozenset_type = t->frozenset_type;
	img->coro_type = t->coro_type;
	img->gen_type = t->gen_type;
	img->layout = t->layout;
}

/* The "NAME" payload: each thread's name, for the versions that print
 * them. */
static bool put_thread_names(const struct pf_snapshot *snap, char **buf,
			     size_t *len)
{
	FILE *out = open_memstream(buf, len);
	if (out == NULL)
		return false;
	for (size_t i = 0; i < snap->nthreads; i++) {
		const struct pf_thread_dump *t = &snap->threads[i];
		uint64_t id = t->thread_id;
		uint8_t n = (uint8_t)strlen(t->name);
		for (int b = 0; b < 8; b++)
			fputc((int)(id >> (8 * b) & 0xff), out);
		fputc(n, out);
		fwrite(t->name, 1, n, out);
	}
	return fclose(out) == 0;
}

static enum pf_status record(pid_t pid, const char *note, const char *path,
			     struct pf_error *err)
{
	struct pf_mem live, mem;
	struct pf_mem_recorder rec;
	int rc = pf_mem_open_live(&live, pid);
	if (rc != 0)
		return pf_fail(err,
			       rc == -ENOENT || rc == -ESRCH ? PF_ERR_NO_PROCESS
							     : PF_ERR_PERMISSION,
			       "cannot open the memory of process %d: %s",
			       (int)pid, strerror(-rc));
	pf_mem_open_recorder(&mem, &rec, &live);
	struct pf_target target;
	struct pf_snapshot snap = {0};
	/* No cache: the image must record what this build's own sources
	 * give. */
	const struct pf_offsets_config config = {.sources = PF_SOURCES_ALL,
						 .no_cache = true};
	struct pf_task_source tasks = {.found = PF_ASYNCIO_ABSENT};
	enum pf_status st = pf_target_open(&target, pid, &mem, &config, err);
	if (st == PF_OK) {
		pf_task_source_find(&target, NULL, &mem, &tasks);
		tasks.exact_reads = true;
		st = walk_stopped(&target, &mem, &tasks, &snap, err);
	}
	pf_mem_close(&live);
	st = pf_proc_exit_explains(pid, st, err);

	struct pf_image img = {0};
	char *text = NULL, *names = NULL;
	size_t text_len = 0, names_len = 0;
	FILE *out = NULL;
	if (st == PF_OK && rec.out_of_memory)
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	if (st == PF_OK) {
		FILE *dump = open_memstream(&text, &text_len);
		if (dump == NULL)
			st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		else {
			pf_write_threads(dump, &target, &snap, false,
					 PF_NATIVE_NONE);
			if (!pf_format_tasks(dump, &snap.tasks,
					     PF_TASKS_LIST))
				st = pf_fail(err, PF_ERR_INTERNAL,
					     "out of memory");
			fclose(dump);
		}
	}
	if (st == PF_OK && !put_thread_names(&snap, &names, &names_len))
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	if (st == PF_OK && !pf_mem_recorder_ranges(&rec, &img))
		st = pf_fail(err, PF_ERR_INTERNAL, "out of memory");
	if (st == PF_OK && (out = fopen(path, "wb")) == NULL)
		st = pf_fail(err, PF_ERR_INTERNAL, "cannot create %s: %s",
			     path, strerror(errno));
	if (st == PF_OK) {
		describe(&img, &target);
		img.has_asyncio = tasks.found == PF_ASYNCIO_FOUND &&
				  snap.tasks.collected;
		img.asyncio = tasks.layout;
		img.awaits = tasks.awaits;
		img.text = text;
		img.text_len = text_len;
		img.names = (const uint8_t *)names;
		img.names_len = names_len;
		img.note = note;
		img.note_len = strlen(note);
		bool written = pf_image_write(out, &img);
		if (fclose(out) != 0 || !written)
			st = pf_fail(err, PF_ERR_INTERNAL, "cannot write %s",
				     path);
	}
	free(text);
	free(names);
	free(img.ranges);
	free(img.owned);
	pf_snapshot_free(&snap);
	pf_mem_recorder_free(&rec);
	return st;
}

int main(int argc, char **argv)
{
	const char *note = "";
	int i = 1;
	if (argc > 2 && strcmp(argv[1], "--note") == 0) {
		note = argv[2];
		i = 3;
	}
	char *end = "";
	long pid = argc - i == 2 ? strtol(argv[i], &end, 10) : 0;
	if (pid <= 0 || *end != '\0') {
		fputs(usage_text, stderr);
		return PF_ERR_USAGE;
	}
	struct pf_error err = {0};
	enum pf_status st = record((pid_t)pid, note, argv[i + 1], &err);
	if (st != PF_OK)
		fprintf(stderr, "pyfault-record: %s\n", err.message);
	return st;
}
