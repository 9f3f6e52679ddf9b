#include "format/status_format.h"

#include "format/fh_format.h"
#include "format/syscall_names.h"

void pf_format_thread_state(FILE *out, const struct pf_thread_status *s)
{
	const char *name;
	switch (s->state) {
	case PF_STATE_RUNNING:
		fputs("running", out);
		break;
	case PF_STATE_GIL_WAIT:
		fputs("waiting for the GIL", out);
		break;
	case PF_STATE_SYSCALL:
		name = pf_syscall_name(s->syscall_nr);
		if (name)
			fprintf(out, "in %s()", name);
		else
			fprintf(out, "in system call %ld", s->syscall_nr);
		break;
	case PF_STATE_UNKNOWN:
		fputs("unknown", out);
		break;
	}
}

/* A thread name is any bytes but NUL and newline: non-printable ones are
 * escaped as faulthandler escapes its strings. */
static void format_name(FILE *out, const char *name)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (*p >= ' ' && *p <= 126 && *p != '"' && *p != '\\')
			fputc(*p, out);
		else
			fprintf(out, "\\x%02x", *p);
	}
	fputc('"', out);
}

static void format_thread(FILE *out, const struct pf_thread_dump *t)
{
	const struct pf_thread_status *s = &t->status;
	fprintf(out, "  Thread 0x%016llx: ", (unsigned long long)t->thread_id);
	if (t->tid > 0)
		fprintf(out, "tid %d ", (int)t->tid);
	else
		fputs("tid ? ", out);
	format_name(out, s->name);
	if (t->python_name.present) {
		fputs(", Python name ", out);
		pf_format_quoted(out, &t->python_name);
	}
	fputs(s->holds_gil ? ": holds the GIL, " : ": ", out);
	pf_format_thread_state(out, s);
	fputc('\n', out);
}

void pf_format_status(FILE *out, const struct pf_snapshot *snap,
		      bool current_thread_only)
{
	fputs("Thread status:\n", out);
	const struct pf_thread_dump *current = pf_snapshot_current_python(snap);
	for (size_t i = 0; !current_thread_only && i < snap->nthreads; i++)
		format_thread(out, &snap->threads[i]);
	if (current_thread_only && current)
		format_thread(out, current);
	for (size_t k = 0; !current_thread_only && k < snap->ninterps; k++) {
		const struct pf_interp_dump *d = &snap->interps[k];
		pf_format_interpreter_name(out, d);
		for (size_t i = 0; i < d->nthreads; i++)
			format_thread(out, &d->threads[i]);
	}
	fputc('\n', out);
}
