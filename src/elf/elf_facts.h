/* What has been learnt of one ELF file, as lines "QUESTION = ANSWER": its
 * build-id, load address and symbols, as elf_symbols.c asks and answers
 * them.  Kept in the offset cache under the file's identity, they spare
 * the next dump of the same interpreter loading libelf and reading the
 * file. */
#ifndef PYFAULT_ELF_FACTS_H
#define PYFAULT_ELF_FACTS_H

#include <stdbool.h>
#include <stddef.h>

struct pf_elf_facts {
	char *text;    /* the lines, each ending in '\n'; NULL: none yet */
	size_t len, cap;
	bool learnt;   /* a line was added since pf_elf_facts_set */
};

/* Takes text[len] (lines as pf_elf_facts_add writes them) as what is
 * known, replacing what was; false (and nothing known) when it is not
 * such lines or memory runs out. */
bool pf_elf_facts_set(struct pf_elf_facts *f, const char *text, size_t len);

/* The answer to question, up to its line's end (excluded) in *len; NULL
 * when it was not asked before. */
const char *pf_elf_facts_answer(const struct pf_elf_facts *f,
				const char *question, size_t *len);

/* Adds the line "QUESTION = ANSWER"; neither may hold a newline, question
 * no " = ".  Nothing is added when memory runs out: the question is then
 * only asked again. */
void pf_elf_facts_add(struct pf_elf_facts *f, const char *question,
		      const char *answer);

void pf_elf_facts_free(struct pf_elf_facts *f);

#endif
