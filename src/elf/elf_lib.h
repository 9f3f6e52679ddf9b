/* elfutils' libelf, loaded (dlopen) the first time an ELF file must be
 * read: a dump whose interpreter's facts are cached (elf_symbols.h) does
 * without it, and loading it with the program, with libz, costs about
 * 0.07 ms of a 2.5 ms pyfault-attach.  The functions are called as
 * pf_libelf.NAME, under the names the headers give them, once
 * pf_libelf_load has succeeded. */
#ifndef PYFAULT_ELF_LIB_H
#define PYFAULT_ELF_LIB_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>

#define PF_ELF_FUNCTIONS(X)                                                   \
	X(elf_begin) X(elf_end) X(elf_getdata) X(elf_getdata_rawchunk)        \
	X(elf_getident) X(elf_getphdrnum) X(elf_getscn) X(elf_getshdrnum)     \
	X(elf_getshdrstrndx) X(elf_kind) X(elf_ndxscn) X(elf_nextscn)         \
	X(elf_strptr) X(elf_version) X(gelf_getclass) X(gelf_getehdr)         \
	X(gelf_getnote) X(gelf_getphdr) X(gelf_getshdr) X(gelf_getsym)        \
	X(gelf_update_shdr)

struct pf_elf_lib {
#define PF_ELF_FIELD_(f) __typeof__(f) *f;
	PF_ELF_FUNCTIONS(PF_ELF_FIELD_)
#undef PF_ELF_FIELD_
};

/* The functions; each is NULL until pf_libelf_load has succeeded. */
extern struct pf_elf_lib pf_libelf;

/* Loads libelf on the first call and sets its version, true when its
 * functions can be called; else false, with why[size] naming the cause and
 * the package. */
bool pf_libelf_load(char *why, size_t size);

#endif
