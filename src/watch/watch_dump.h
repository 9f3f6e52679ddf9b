/* Dumping a watched process: finding its interpreter, holding it, walking
 * it and writing the text or JSON of the dump. */
#ifndef PYFAULT_WATCH_DUMP_H
#define PYFAULT_WATCH_DUMP_H

#include <sys/types.h>

#include "format/dump_reason.h"
#include "watch/watch_tables.h"

/* A program just exec'd, before any of its Python runs: its interpreter
 * and offsets are found now, so that a crash dump never waits on DWARF.
 * Only success is kept: a program may still load libpython itself
 * later. */
void watch_prepare_target(struct watch *w, struct process *p);
/* Stops process p, writes the dump for the reason, and lets it go on.
 * signal_tid is the thread in signal-delivery-stop for reason->signo
 * (fatal or --signal): it is the current thread, and stays stopped for the
 * caller to deliver the signal or not.  The tables may move. */
void watch_dump(struct watch *w, struct process *p,
		const struct pf_dump_reason *reason, pid_t signal_tid);
/* Every Python process, for a timeout or a request. */
void watch_dump_all(struct watch *w, enum pf_reason_kind kind);

#endif
