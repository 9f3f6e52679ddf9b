#include "walk/thread_names.h"

#include "walk/py_dict.h"
#include "walk/py_string.h"

/* Gives the threads of one interpreter (threads[0..n)) their names. */
static bool name_threads(const struct pf_reader *r, uint64_t interp,
			 struct pf_thread_dump *threads, size_t n)
{
	const struct pf_layout *l = r->l;
	/* 2.7's Thread keeps self.__name, mangled. */
	const char *attr = l->major == 2 ? "_Thread__name" : "_name";
	uint64_t modules, threading, dict, active, key, thread;
	struct pf_dict_iter it;
	if (n == 0 ||
	    !pf_mem_read_u64(r->mem, interp + l->interp.modules, &modules) ||
	    (threading = pf_dict_get(r, modules, "threading")) == 0 ||
	    !pf_mem_read_u64(r->mem, threading + l->module.md_dict, &dict) ||
	    (active = pf_dict_get(r, dict, "_active")) == 0 ||
	    !pf_dict_iter_init(&it, r, active))
		return true;
	while (pf_dict_next(&it, &key, &thread)) {
		uint64_t ident, name;
		if (!pf_read_uint64(r, key, &ident) ||
		    (name = pf_instance_attr(r, thread, attr)) == 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct pf_thread_dump *t = &threads[i];
			if (t->thread_id != ident || t->python_name.present)
				continue;
			pf_text_free(&t->python_name);
			if (!pf_read_text(r->mem, l, name, &t->python_name))
				return false;
		}
	}
	return true;
}

enum pf_status pf_read_python_names(struct pf_mem *mem,
				    struct pf_target *t,
				    struct pf_snapshot *snap,
				    struct pf_error *err)
{
	const struct pf_layout *l = &t->layout;
	const char *missing = NULL;
	pf_target_modules_layout(t);
	if (!pf_layout_names_complete(l, &missing))
		return pf_fail(err, PF_ERR_NO_OFFSETS,
			       "process %d: Python thread names are left out: "
			       "%s gives no %s",
			       (int)t->pid, pf_layout_source_name(l->source),
			       missing);
	const struct pf_reader r = {mem, l};
	bool ok = name_threads(&r, snap->interp, snap->threads,
			       snap->nthreads);
	if (ok && snap->has_outside)
		ok = name_threads(&r, snap->interp, &snap->outside, 1);
	for (size_t k = 0; ok && k < snap->ninterps; k++)
		ok = name_threads(&r, snap->interps[k].addr,
				  snap->interps[k].threads,
				  snap->interps[k].nthreads);
	return ok ? PF_OK : pf_fail(err, PF_ERR_INTERNAL, "out of memory");
}
