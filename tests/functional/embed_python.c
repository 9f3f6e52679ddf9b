/* A program that embeds Python, for tests/functional/test_embedded.py.
 *
 *     embed_python [PYTHON OPTIONS] SCRIPT [ARGS]
 *
 * Its command line is Python's: it runs in a thread of its own started by
 * main(), as an application that embeds Python would, while the process's
 * main thread waits in C with every signal blocked, so that signals sent to
 * the process reach the Python thread, as they reach a plain python's main
 * thread.  The exit status is Python's (Py_RunMain). */
#include <Python.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>

struct run {
	int argc;
	char **argv;
	sigset_t mask;   /* the signal mask of the Python thread */
	int status;
};

static void *run_python(void *arg)
{
	struct run *run = arg;
	pthread_sigmask(SIG_SETMASK, &run->mask, NULL);
	PyConfig config;
	PyConfig_InitPythonConfig(&config);
	PyStatus status = PyConfig_SetBytesArgv(&config, run->argc, run->argv);
	if (!PyStatus_Exception(status))
		status = Py_InitializeFromConfig(&config);
	PyConfig_Clear(&config);
	if (PyStatus_Exception(status)) {
		if (PyStatus_IsExit(status)) {
			run->status = status.exitcode;
		} else {
			fprintf(stderr, "embed_python: %s\n",
				status.err_msg ? status.err_msg : "error");
			run->status = 1;
		}
		return NULL;
	}
	run->status = Py_RunMain();
	return NULL;
}

int main(int argc, char **argv)
{
	struct run run = {.argc = argc, .argv = argv};
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &run.mask);
	pthread_t thread;
	int err = pthread_create(&thread, NULL, run_python, &run);
	if (err != 0) {
		fprintf(stderr, "embed_python: pthread_create failed (%d)\n",
			err);
		return 1;
	}
	pthread_join(thread, NULL);
	return run.status;
}
