/* One way to run a unit test's Check suite, whose exit status is what
 * Automake's test driver reads. */
#ifndef PYFAULT_CHECK_RUN_H
#define PYFAULT_CHECK_RUN_H

#include <check.h>
#include <stdlib.h>

static inline int pf_check_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
