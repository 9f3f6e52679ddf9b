#include "dump/target_dump.h"

#include <stdlib.h>
#include <stdio.h>
#include <unistd.h>

#include "walk/thread_names.h"

enum pf_native_view pf_native_view_for(enum pf_native_view asked,
				       const struct pf_layout *layout,
				       bool fatal_error)
{
	if (asked != PF_NATIVE_DEFAULT)
		return asked;
	return layout->native_by_default && fatal_error ? PF_NATIVE_CURRENT
							: PF_NATIVE_NONE;
}

struct pf_style pf_style_of(const struct pf_layout *l)
{
	return (struct pf_style){
		.frame_limit_marker = l->frame_limit_marker,
		.no_frame_indented = l->no_frame_indented,
		.gc_line = l->gc_line,
		.fpe_hyphenated = l->fpe_hyphenated,
		.no_frame_line = l->no_frame_line,
		.thread_name_suffix = l->thread_name_suffix,
		.thread_names = l->thread_names,
	};
}

static bool write_merged(FILE *out, const struct pf_target *target,
			 const struct pf_snapshot *snap,
			 const struct pf_thread_dump *only,
			 const struct pf_style *style)
{
	size_t n = only ? 1 : snap->nthreads;
	struct pf_merged *merges = calloc(n ? n : 1, sizeof *merges);
	bool ok = merges != NULL;
	for (size_t i = 0; ok && i < n; i++)
		ok = pf_merge_stacks(only ? only : &snap->threads[i],
				     target->object_path, &merges[i]);
	if (ok && only)
		pf_format_stack_merged(out, only, merges, style);
	else if (ok)
		pf_format_threads_merged(out, snap, merges, style);
	/* A current thread past the threads shown: its C stack alone. */
	if (ok && !only && snap->has_outside)
		pf_format_native_stack(out, &snap->outside);
	for (size_t i = 0; merges && i < n; i++)
		pf_merged_free(&merges[i]);
	free(merges);
	return ok;
}

/* The C stacks after the tracebacks: the current thread's, or every
 * thread's, that of a current thread outside threads[] last. */
static void write_native_sections(FILE *out, const struct pf_snapshot *snap,
				  const struct pf_thread_dump *only,
				  enum pf_native_view native)
{
	const struct pf_thread_dump *current = pf_snapshot_current(snap);
	if (native == PF_NATIVE_NONE)
		return;
	if (native == PF_NATIVE_CURRENT || only) {
		if (current)
			pf_format_native_stack(out, current);
		return;
	}
	for (size_t i = 0; i < snap->nthreads; i++)
		pf_format_native_stack(out, &snap->threads[i]);
	if (snap->has_outside)
		pf_format_native_stack(out, &snap->outside);
}

/* The interpreters besides the main one, after faulthandler's text, each
 * with its C stacks as native says; a current thread's C stack alone
 * (PF_NATIVE_CURRENT) is the main interpreter's. */
static bool write_interpreters(FILE *out, const struct pf_target *target,
			       const struct pf_snapshot *snap,
			       enum pf_native_view native,
			       const struct pf_style *style)
{
	bool ok = true;
	for (size_t k = 0; ok && k < snap->ninterps; k++) {
		const struct pf_interp_dump *d = &snap->interps[k];
		struct pf_merged *merges = NULL;
		if (native == PF_NATIVE_MERGED) {
			merges = calloc(d->nthreads ? d->nthreads : 1,
					sizeof *merges);
			ok = merges != NULL;
			for (size_t i = 0; ok && i < d->nthreads; i++)
				ok = pf_merge_stacks(&d->threads[i],
						     target->object_path,
						     &merges[i]);
		}
		if (ok)
			pf_format_interpreter(out, snap, d, merges, style);
		for (size_t i = 0; ok && native == PF_NATIVE_SECTION &&
				   i < d->nthreads;
		     i++)
			pf_format_native_stack(out, &d->threads[i]);
		for (size_t i = 0; merges && i < d->nthreads; i++)
			pf_merged_free(&merges[i]);
		free(merges);
	}
	pf_format_interpreters_truncated(out, snap);
	return ok;
}

bool pf_write_threads(FILE *out, const struct pf_target *target,
		      const struct pf_snapshot *snap, bool current_thread_only,
		      enum pf_native_view native)
{
	struct pf_style style = pf_style_of(&target->layout);
	style.locals = snap->locals_read;
	const struct pf_thread_dump *only = NULL;
	if (current_thread_only &&
	    (only = pf_snapshot_current_python(snap)) == NULL)
		return false;
	if (native == PF_NATIVE_MERGED) {
		style.python_names = true;
		if (!write_merged(out, target, snap, only, &style))
			return false;
	} else {
		if (only)
			pf_format_stack(out, only, &style);
		else
			pf_format_threads(out, snap, &style);
		write_native_sections(out, snap, only, native);
	}
	pf_format_extension_modules(out, &snap->modules);
	return only || write_interpreters(out, target, snap, native, &style);
}

bool pf_fatal_current_only(const struct pf_target *target,
			   const struct pf_snapshot *snap,
			   bool current_thread_only)
{
	return current_thread_only ||
	       (target->layout.fatal_current_without_gil && snap->gil_disabled);
}

bool pf_write_fatal_threads(FILE *out, const struct pf_target *target,
			    const struct pf_snapshot *snap,
			    bool current_thread_only, enum pf_native_view native)
{
	if (current_thread_only ||
	    !pf_fatal_current_only(target, snap, current_thread_only))
		return pf_write_threads(out, target, snap, current_thread_only,
					native);
	/* Without a thread state, faulthandler shows no Python frames and
	 * no notice (deduce_all_threads() gives 0), the C stack still. */
	if (pf_snapshot_current_python(snap) == NULL) {
		write_native_sections(out, snap, NULL,
				      native == PF_NATIVE_NONE
					      ? native
					      : PF_NATIVE_CURRENT);
		pf_format_extension_modules(out, &snap->modules);
		return true;
	}
	pf_format_gil_disabled_notice(out);
	return pf_write_threads(out, target, snap, true, native);
}

void pf_json_process_fill(const struct pf_target *t, const char *executable,
			  struct pf_json_process *process)
{
	*process = (struct pf_json_process){
		.pid = t->pid,
		.executable = executable,
		.interpreter = t->object_path,
		.major = t->major,
		.minor = t->minor,
		.micro = t->micro,
		.micro_known = t->micro_known,
		.debug_build = t->debug_build,
		.offsets_source = pf_layout_source_name(t->layout.source),
		.offsets_detail = t->layout.source_detail,
	};
}

void pf_json_process_of(const struct pf_target *t, char *exe,
			size_t exe_size, struct pf_json_process *process)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/exe", (int)t->pid);
	ssize_t n = readlink(link, exe, exe_size - 1);
	if (n >= 0)
		exe[n] = '\0';
	pf_json_process_fill(t, n >= 0 ? exe : NULL, process);
}

void pf_target_status_layout(struct pf_target *t)
{
	/* The same gap filling as for the "Extension modules" line: every
	 * offset the debug offsets lack, from DWARF that agrees with them. */
	const char *missing;
	if (t->layout.gil.size == PF_NO_OFFSET ||
	    !pf_layout_names_complete(&t->layout, &missing))
		pf_target_modules_layout(t);
}

const struct pf_object_types *pf_locals_types(const char *prog,
					      struct pf_target *t)
{
	const char *missing = NULL;
	pf_target_modules_layout(t);
	if (pf_layout_locals_complete(&t->layout, &missing))
		return &t->types;
	fprintf(stderr,
		"%s: process %d: local variables are left out: %s gives no "
		"%s\n",
		prog, (int)t->pid, pf_layout_source_name(t->layout.source),
		missing);
	return NULL;
}

void pf_dump_python_names(const char *prog, struct pf_mem *mem,
			  struct pf_target *t, struct pf_snapshot *snap)
{
	struct pf_error note = {0};
	if (pf_read_python_names(mem, t, snap, &note) != PF_OK)
		fprintf(stderr, "%s: %s\n", prog, note.message);
}
