#include "target_dump.h"

struct pf_style pf_style_of(const struct pf_layout *l)
{
	return (struct pf_style){
		.frame_limit_marker = l->frame_limit_marker,
		.no_frame_indented = l->no_frame_indented,
		.gc_line = l->gc_line,
		.fpe_hyphenated = l->fpe_hyphenated,
		.thread_names = l->thread_names,
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

bool pf_write_fatal_threads(FILE *out, const struct pf_layout *layout,
			    const struct pf_snapshot *snap,
			    bool current_thread_only)
{
	if (current_thread_only || !layout->fatal_current_without_gil ||
	    !snap->gil_disabled)
		return pf_write_threads(out, layout, snap, current_thread_only);
	struct pf_style style = pf_style_of(layout);
	for (size_t i = 0; i < snap->nthreads; i++) {
		if (snap->threads[i].is_current) {
			fputs("<Cannot show all threads while the GIL is "
			      "disabled>\n",
			      out);
			pf_format_stack(out, &snap->threads[i], &style);
			break;
		}
	}
	pf_format_extension_modules(out, &snap->modules);
	return true;
}
