#include "elf/elf_facts.h"

#include <stdlib.h>
#include <string.h>

#define SEPARATOR " = "

/* Every line has its separator and ends in '\n'. */
static bool well_formed(const char *text, size_t len)
{
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || memmem(p, (size_t)(nl - p), SEPARATOR,
					 strlen(SEPARATOR)) == NULL)
			return false;
		p = nl + 1;
	}
	return true;
}

static bool reserve(struct pf_elf_facts *f, size_t more)
{
	if (f->len + more <= f->cap)
		return true;
	size_t cap = f->cap ? f->cap : 1024;
	while (cap < f->len + more)
		cap *= 2;
	char *text = realloc(f->text, cap);
	if (text == NULL)
		return false;
	f->text = text;
	f->cap = cap;
	return true;
}

bool pf_elf_facts_set(struct pf_elf_facts *f, const char *text, size_t len)
{
	f->len = 0;
	f->learnt = false;
	if (!well_formed(text, len) || !reserve(f, len))
		return false;
	memcpy(f->text, text, len);
	f->len = len;
	return true;
}

const char *pf_elf_facts_answer(const struct pf_elf_facts *f,
				const char *question, size_t *len)
{
	size_t qlen = strlen(question), slen = strlen(SEPARATOR);
	if (f->text == NULL)
		return NULL;
	for (const char *p = f->text, *end = f->text + f->len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if ((size_t)(nl - p) >= qlen + slen &&
		    memcmp(p, question, qlen) == 0 &&
		    memcmp(p + qlen, SEPARATOR, slen) == 0) {
			*len = (size_t)(nl - p) - qlen - slen;
			return p + qlen + slen;
		}
		p = nl + 1;
	}
	return NULL;
}

void pf_elf_facts_add(struct pf_elf_facts *f, const char *question,
		      const char *answer)
{
	size_t qlen = strlen(question), alen = strlen(answer),
	       slen = strlen(SEPARATOR);
	if (!reserve(f, qlen + slen + alen + 1))
		return;
	char *p = f->text + f->len;
	memcpy(p, question, qlen);
	memcpy(p + qlen, SEPARATOR, slen);
	memcpy(p + qlen + slen, answer, alen);
	p[qlen + slen + alen] = '\n';
	f->len += qlen + slen + alen + 1;
	f->learnt = true;
}

void pf_elf_facts_free(struct pf_elf_facts *f)
{
	free(f->text);
	memset(f, 0, sizeof *f);
}
