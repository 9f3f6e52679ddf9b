/* Symbols of the interpreter's ELF file, read with libelf, or answered by
 * what was learnt of the same file before (elf_facts.h). */
#ifndef PYFAULT_ELF_SYMBOLS_H
#define PYFAULT_ELF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pf_elf;

/* path's ELF file, read by libelf (loaded then).  NULL when path cannot be
 * opened or is not ELF. */
struct pf_elf *pf_elf_open(const char *path);

/* path's file, not read yet: the facts given with pf_elf_use_facts answer
 * the questions they hold, and libelf reads the file for the others, at
 * the first of them.  NULL when path cannot be opened. */
struct pf_elf *pf_elf_open_lazily(const char *path);
void pf_elf_close(struct pf_elf *elf);

/* The identity to keep the file's facts under: its device and inode as 32
 * hex digits in key, its size, modification and change times in stamp. */
void pf_elf_identity(const struct pf_elf *elf, char *key, size_t key_size,
		     char *stamp, size_t stamp_size);

/* Takes text[len], the facts of an earlier opening of the same identity
 * (pf_elf_new_facts), as known. */
void pf_elf_use_facts(struct pf_elf *elf, const char *text, size_t len);

/* All the facts known of the file when this opening learnt some, to keep;
 * NULL when it learnt none.  The text stays elf's. */
const char *pf_elf_new_facts(const struct pf_elf *elf, size_t *len);

enum pf_elf_kind {
	PF_ELF_READABLE,
	PF_ELF_NOT_ELF,
	PF_ELF_NO_LIBELF,  /* why names the cause and the package */
};

/* Whether the file is ELF: at once when facts were given (only an ELF
 * file has any); else libelf reads it, and why[size] says why not. */
enum pf_elf_kind pf_elf_check(struct pf_elf *elf, char *why, size_t size);

/* The link-time address of the first loadable segment, to turn symbol values
 * into run-time addresses: runtime = mapped base - load_vaddr + value. */
uint64_t pf_elf_load_vaddr(struct pf_elf *elf);

/* The GNU build-id as lowercase hex in hex[size]; "" when the file has
 * none (or it does not fit). */
void pf_elf_build_id(struct pf_elf *elf, char *hex, size_t size);

/* Looks name up in .symtab, then .dynsym (stripped files keep only that). */
bool pf_elf_symbol(struct pf_elf *elf, const char *name, uint64_t *value,
		   uint64_t *size);

/* The link-time address and size of the section called name (as
 * ".AsyncioDebug"); false when the file has none. */
bool pf_elf_section(struct pf_elf *elf, const char *name, uint64_t *addr,
		    uint64_t *size);

/* A symbol asked of pf_elf_symbols. */
struct pf_elf_wanted {
	const char *name;
	bool local;      /* a static: only .symtab has it */
	uint64_t value, size;
	bool found;
};

/* Looks every name of wanted up: the exported ones in .dynsym, where the
 * dynamic linker finds them too, and as it does, through .gnu.hash (one
 * pass over the table when the file has none); .symtab (a libpython's has
 * tens of thousands of entries) in one pass, only for the local ones, or
 * for all when .dynsym has none of them (an executable that exports
 * nothing).  Returns how many were found. */
size_t pf_elf_symbols(struct pf_elf *elf, struct pf_elf_wanted *wanted,
		      size_t n);

#endif
