#include "format/dump_reason.h"

#include <string.h>

void pf_reason_set_siginfo(struct pf_dump_reason *r, const siginfo_t *info)
{
	r->signo = info->si_signo;
	r->has_siginfo = true;
	r->code = info->si_code;
	/* A positive code comes from the kernel; for these signals it means
	 * a faulting instruction or address (sigaction(2)). */
	bool fault = info->si_code > 0 &&
		     (info->si_signo == SIGSEGV || info->si_signo == SIGBUS ||
		      info->si_signo == SIGFPE || info->si_signo == SIGILL);
	r->has_address = fault;
	r->address = fault ? (uint64_t)(uintptr_t)info->si_addr : 0;
	r->has_sender = info->si_code == SI_USER || info->si_code == SI_TKILL ||
			info->si_code == SI_QUEUE;
	r->sender_pid = r->has_sender ? info->si_pid : 0;
}

const char *pf_reason_kind_name(enum pf_reason_kind kind)
{
	switch (kind) {
	case PF_REASON_ATTACH:
		return "attach";
	case PF_REASON_FATAL_SIGNAL:
		return "fatal_signal";
	case PF_REASON_TIMEOUT:
		return "timeout";
	case PF_REASON_REQUEST:
		return "request";
	case PF_REASON_SIGNAL:
		return "signal";
	case PF_REASON_CORE:
		return "core";
	}
	return "unknown";
}

bool pf_signal_name(int signo, char *name, size_t size)
{
	const char *abbrev = signo > 0 && signo < NSIG ? sigabbrev_np(signo)
						      : NULL;
	if (abbrev == NULL)
		return false;
	snprintf(name, size, "SIG%s", abbrev);
	return true;
}

struct code_name {
	int code;
	const char *name;
};

#define CODE(c) {c, #c}

/* Every code <bits/siginfo-consts.h> defines, per signal. */
static const struct code_name segv_codes[] = {
	CODE(SEGV_MAPERR), CODE(SEGV_ACCERR),
#ifdef SEGV_BNDERR
	CODE(SEGV_BNDERR),
#endif
#ifdef SEGV_PKUERR
	CODE(SEGV_PKUERR),
#endif
#ifdef SEGV_ACCADI
	CODE(SEGV_ACCADI),
#endif
#ifdef SEGV_ADIDERR
	CODE(SEGV_ADIDERR),
#endif
#ifdef SEGV_ADIPERR
	CODE(SEGV_ADIPERR),
#endif
#ifdef SEGV_MTEAERR
	CODE(SEGV_MTEAERR),
#endif
#ifdef SEGV_MTESERR
	CODE(SEGV_MTESERR),
#endif
#ifdef SEGV_CPERR
	CODE(SEGV_CPERR),
#endif
	{0, NULL},
};

static const struct code_name bus_codes[] = {
	CODE(BUS_ADRALN), CODE(BUS_ADRERR), CODE(BUS_OBJERR),
#ifdef BUS_MCEERR_AR
	CODE(BUS_MCEERR_AR),
#endif
#ifdef BUS_MCEERR_AO
	CODE(BUS_MCEERR_AO),
#endif
	{0, NULL},
};

static const struct code_name fpe_codes[] = {
	CODE(FPE_INTDIV), CODE(FPE_INTOVF), CODE(FPE_FLTDIV),
	CODE(FPE_FLTOVF), CODE(FPE_FLTUND), CODE(FPE_FLTRES),
	CODE(FPE_FLTINV), CODE(FPE_FLTSUB),
#ifdef FPE_FLTUNK
	CODE(FPE_FLTUNK),
#endif
#ifdef FPE_CONDTRAP
	CODE(FPE_CONDTRAP),
#endif
	{0, NULL},
};

static const struct code_name ill_codes[] = {
	CODE(ILL_ILLOPC), CODE(ILL_ILLOPN), CODE(ILL_ILLADR),
	CODE(ILL_ILLTRP), CODE(ILL_PRVOPC), CODE(ILL_PRVREG),
	CODE(ILL_COPROC), CODE(ILL_BADSTK),
#ifdef ILL_BADIADDR
	CODE(ILL_BADIADDR),
#endif
	{0, NULL},
};

/* Codes of signals sent by a process or a library, any signal. */
static const struct code_name any_codes[] = {
	CODE(SI_USER), CODE(SI_KERNEL), CODE(SI_QUEUE), CODE(SI_TIMER),
	CODE(SI_MESGQ), CODE(SI_ASYNCIO), CODE(SI_SIGIO), CODE(SI_TKILL),
#ifdef SI_DETHREAD
	CODE(SI_DETHREAD),
#endif
#ifdef SI_ASYNCNL
	CODE(SI_ASYNCNL),
#endif
	{0, NULL},
};

#undef CODE

static const char *find_code(const struct code_name *table, int code)
{
	for (; table->name != NULL; table++)
		if (table->code == code)
			return table->name;
	return NULL;
}

const char *pf_si_code_name(int signo, int code)
{
	/* Positive codes are per signal; SI_KERNEL (0x80) is shared. */
	if (code > 0 && code != SI_KERNEL) {
		switch (signo) {
		case SIGSEGV:
			return find_code(segv_codes, code);
		case SIGBUS:
			return find_code(bus_codes, code);
		case SIGFPE:
			return find_code(fpe_codes, code);
		case SIGILL:
			return find_code(ill_codes, code);
		default:
			return NULL;
		}
	}
	return find_code(any_codes, code);
}

void pf_format_signal_details(FILE *out, const struct pf_dump_reason *r)
{
	char name[32];
	if (pf_signal_name(r->signo, name, sizeof name))
		fputs(name, out);
	else
		fprintf(out, "signal %d", r->signo);
	if (!r->has_siginfo)
		return;
	const char *code = pf_si_code_name(r->signo, r->code);
	if (code)
		fprintf(out, ", %s", code);
	else
		fprintf(out, ", si_code %d", r->code);
	if (r->has_address)
		fprintf(out, " at 0x%llx", (unsigned long long)r->address);
	if (r->has_sender)
		fprintf(out, " from process %d", (int)r->sender_pid);
}
