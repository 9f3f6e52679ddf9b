/* What every fuzz target shares: the libFuzzer entry point each defines,
 * and the checks that turn a broken bound into a crash the fuzzer sees. */
#ifndef PYFAULT_FUZZ_H
#define PYFAULT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where dumps go: their bytes do not matter, writing them does. */
FILE *pf_fuzz_sink(void);

#define PF_FUZZ_ASSERT(cond)                                                 \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: %s does not hold\n",        \
				__FILE__, __LINE__, #cond);                  \
			abort();                                             \
		}                                                            \
	} while (0)

#endif
