#include "target_dump.h"

#include <stdio.h>
#include <unistd.h>

struct pf_style pf_style_of(const struct pf_layout *l)
{
	return (struct pf_style){
		.frame_limit_marker = l->frame_limit_marker,
		.no_frame_indented = l->no_frame_indented,
		.gc_line = l->gc_line,
		.fpe_hyphenated = l->fpe_hyphenated,
	};
}

bool pf_write_threads(FILE *out, const struct pf_layout *layout,
		      const struct pf_snapshot *snap, bool current_thread_only)
{
	struct pf_style style = pf_style_of(layout);
	if (!current_thread_only) {
		pf_format_threads(out, snap, &style);
		pf_format_extension_modules(out, &snap->modules);
		return true;
	}
	for (size_t i = 0; i < snap->nthreads; i++) {
		if (snap->threads[i].is_current) {
			pf_format_stack(out, &snap->threads[i], &style);
			pf_format_extension_modules(out, &snap->modules);
			return true;
		}
	}
	return false;
}

void pf_json_process_of(const struct pf_target *t, char *exe,
			size_t exe_size, struct pf_json_process *process)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/exe", (int)t->pid);
	ssize_t n = readlink(link, exe, exe_size - 1);
	if (n >= 0)
		exe[n] = '\0';
	*process = (struct pf_json_process){
		.pid = t->pid,
		.executable = n >= 0 ? exe : NULL,
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

void pf_target_status_layout(struct pf_target *t)
{
	/* The same gap filling as for the "Extension modules" line: every
	 * offset the debug offsets lack, from DWARF that agrees with them. */
	if (t->layout.gil.size == PF_NO_OFFSET)
		pf_target_modules_layout(t);
}
