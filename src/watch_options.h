/* pyfault-watch's command line. */
#ifndef PYFAULT_WATCH_OPTIONS_H
#define PYFAULT_WATCH_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct watch_options {
	uint64_t timeout_us;     /* 0: no timeout */
	bool repeat;
	bool exit_after_timeout;
	const char *output;
	bool current_thread_only;
	bool verbose;
	bool help;
	bool version;
	char **command;          /* NULL-terminated, points into argv */
};

/* Parses argv into opt.  Returns true, or false with a one-line reason in
 * why. */
bool watch_parse_args(int argc, char **argv, struct watch_options *opt,
		      char *why, size_t why_size);

/* SECONDS as faulthandler.dump_traceback_later() takes it: a positive
 * float, rounded up to whole microseconds the way CPython 3.7+ does. */
bool watch_parse_timeout(const char *s, uint64_t *timeout_us);

#endif
