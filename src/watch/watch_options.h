/* pyfault-watch's command line. */
#ifndef PYFAULT_WATCH_OPTIONS_H
#define PYFAULT_WATCH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cli/cli_common.h"

struct watch_options {
	uint64_t timeout_us;     /* 0: no timeout */
	double timeout_s;        /* the same as given, for the dump's header */
	bool repeat;
	bool exit_after_timeout;
	uint64_t dump_signals;   /* bit sig-1: --signal SIG */
	bool chain;              /* deliver a --signal after dumping */
	bool follow;             /* watch child processes too */
	struct pf_cli_common common;
	char **command;          /* NULL-terminated, points into argv */
};

/* Parses argv into opt.  Returns true, or false with a one-line reason in
 * why. */
bool watch_parse_args(int argc, char **argv, struct watch_options *opt,
		      char *why, size_t why_size);

/* A signal by name ("USR2", "SIGUSR2", glibc's or kill(1)'s: "POLL" and
 * "IO") or number; 0 when s names none. */
int watch_signal_number(const char *s);

/* watch_signal_number(s), but 0 also for a signal pyfault-watch cannot
 * take over (KILL, STOP, the fatal signals it always handles, CHLD). */
int watch_parse_signal(const char *s);

/* SECONDS as faulthandler.dump_traceback_later() takes it: a positive
 * float, kept in *seconds for the header, and in *timeout_us rounded up to
 * whole microseconds the way CPython 3.7+ does, for the timer. */
bool watch_parse_timeout(const char *s, double *seconds,
			 uint64_t *timeout_us);

#endif
