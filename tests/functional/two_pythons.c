/* A process with two Python libraries loaded, for
 * tests/functional/test_embedded.py:
 *
 *     two_pythons LIBPYTHON_A LIBPYTHON_B
 *
 * dlopen()s both (RTLD_LOCAL: neither one's symbols resolve the other's),
 * writes "r" on stdout, then waits for the end of stdin and exits 0. */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: two_pythons LIBPYTHON_A LIBPYTHON_B\n");
		return 2;
	}
	for (int i = 1; i < 3; i++)
		if (dlopen(argv[i], RTLD_NOW | RTLD_LOCAL) == NULL) {
			fprintf(stderr, "two_pythons: %s\n", dlerror());
			return 1;
		}
	char byte;
	if (write(1, "r", 1) != 1)
		return 1;
	while (read(0, &byte, 1) > 0)
		;
	return 0;
}
