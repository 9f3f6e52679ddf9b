/* Why a dump was taken, and the signal details the kernel gave with it
 * (PTRACE_GETSIGINFO at the signal-delivery stop): for the JSON document
 * and watch's -v fault line. */
#ifndef PYFAULT_DUMP_REASON_H
#define PYFAULT_DUMP_REASON_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

enum pf_reason_kind {
	PF_REASON_ATTACH,        /* pyfault-attach */
	PF_REASON_FATAL_SIGNAL,  /* a signal about to kill the program */
	PF_REASON_TIMEOUT,       /* pyfault-watch --timeout */
	PF_REASON_REQUEST,       /* SIGUSR1 to pyfault-watch */
	PF_REASON_SIGNAL,        /* pyfault-watch --signal */
	PF_REASON_CORE,          /* pyfault-core of a core that no signal
	                            faulthandler handles wrote (gcore's has
	                            none, SIGQUIT's has one) */
};

struct pf_dump_reason {
	enum pf_reason_kind kind;
	double timeout_seconds;  /* PF_REASON_TIMEOUT, as given */
	/* PF_REASON_FATAL_SIGNAL, PF_REASON_SIGNAL, and PF_REASON_CORE when
	 * signo is not 0: */
	int signo;
	bool has_siginfo;        /* code, address and sender are known */
	int code;                /* si_code */
	bool has_address;        /* the kernel raised it for an address */
	uint64_t address;        /* si_addr */
	bool has_sender;         /* a process sent it (kill, tgkill, queue) */
	pid_t sender_pid;
};

/* Fills signo and, from siginfo, code, address and sender. */
void pf_reason_set_siginfo(struct pf_dump_reason *reason,
			   const siginfo_t *info);

/* "reason" names of the JSON document: "attach", "fatal_signal", ... */
const char *pf_reason_kind_name(enum pf_reason_kind kind);

/* "SIGSEGV" for 11, into name; false for a number that <signal.h> does
 * not name. */
bool pf_signal_name(int signo, char *name, size_t size);

/* The <signal.h> name of si_code for signo: "SEGV_MAPERR", "SI_USER";
 * NULL when the headers name none. */
const char *pf_si_code_name(int signo, int code);

/* "SIGSEGV, SEGV_MAPERR at 0x0": the signal, its code, and the address
 * when the kernel gave one, for a one-line report. */
void pf_format_signal_details(FILE *out, const struct pf_dump_reason *reason);

#endif
