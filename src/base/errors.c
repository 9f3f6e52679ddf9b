#include "base/errors.h"

#include <stdio.h>

__attribute__((format(printf, 4, 0))) static enum pf_status
fail(struct pf_error *err, enum pf_status status, bool fix_given,
     const char *fmt, va_list ap)
{
	if (err == NULL || err->status != PF_OK)
		return err ? err->status : status;
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	err->status = status;
	err->fix_given = fix_given;
	return status;
}

enum pf_status pf_fail(struct pf_error *err, enum pf_status status,
		       const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	status = fail(err, status, false, fmt, ap);
	va_end(ap);
	return status;
}

enum pf_status pf_fail_with_fix(struct pf_error *err, enum pf_status status,
				const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	status = fail(err, status, true, fmt, ap);
	va_end(ap);
	return status;
}

const char *pf_status_hint(enum pf_status status)
{
	switch (status) {
	case PF_ERR_NO_PROCESS:
		return "check the PID: the process may have exited, or live "
		       "in another PID namespace (a container's PIDs differ "
		       "from the host's: see NSpid in /proc/PID/status)";
	case PF_ERR_NOT_PYTHON:
		return "point pyfault at a CPython process";
	case PF_ERR_UNSUPPORTED:
		return "pyfault reads CPython 2.7 and 3.6 to 3.14 (and newer "
		       "ones whose _Py_DebugOffsets it can check), one "
		       "interpreter per process";
	case PF_ERR_NO_OFFSETS:
		return "install the interpreter's debug symbols "
		       "(Debian: python3.X-dbg) so pyfault can read its DWARF";
	case PF_ERR_EXITED:
		return "the process ended while it was being read";
	case PF_ERR_NOT_READY:
		return "try again in a moment";
	case PF_ERR_FILE_GONE:
		return "run pyfault as root (opening /proc/PID/map_files needs "
		       "CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE), or restart "
		       "the process";
	case PF_ERR_BAD_CORE:
		return "give a core file of a Linux x86_64 process (a "
		       "compressed one as coredumpctl stores it, or the output "
		       "of coredumpctl dump)";
	case PF_ERR_WRONG_FILE:
		return "give the files of the machine that wrote the core with "
		       "--sysroot DIR (its / copied under DIR)";
	case PF_ERR_BAD_MEMORY:
		return "the interpreter state is corrupt or changing; "
		       "try again";
	default:
		return NULL;
	}
}
