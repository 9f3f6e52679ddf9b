/* Milliseconds on the monotonic clock: the deadlines of bounded waits and
 * the figures of -v. */
#ifndef PYFAULT_CLOCK_H
#define PYFAULT_CLOCK_H

#include <time.h>

static inline double pf_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

#endif
