/* Symbols of the interpreter's ELF file, read with libelf. */
#ifndef PYFAULT_ELF_SYMBOLS_H
#define PYFAULT_ELF_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pf_elf;

/* Returns NULL when path cannot be opened or is not ELF. */
struct pf_elf *pf_elf_open(const char *path);
void pf_elf_close(struct pf_elf *elf);

/* The link-time address of the first loadable segment, to turn symbol values
 * into run-time addresses: runtime = mapped base - load_vaddr + value. */
uint64_t pf_elf_load_vaddr(const struct pf_elf *elf);

/* The GNU build-id as lowercase hex in hex[size]; "" when the file has
 * none (or it does not fit). */
void pf_elf_build_id(const struct pf_elf *elf, char *hex, size_t size);

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
