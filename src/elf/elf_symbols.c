#include "elf/elf_symbols.h"

#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "elf/elf_lib.h"

struct pf_elf {
	int fd;
	Elf *elf;
	uint64_t load_vaddr;
};

static uint64_t first_load_vaddr(Elf *elf)
{
	size_t phnum;
	if (pf_libelf.elf_getphdrnum(elf, &phnum) != 0)
		return 0;
	for (size_t i = 0; i < phnum; i++) {
		GElf_Phdr phdr;
		if (pf_libelf.gelf_getphdr(elf, (int)i, &phdr) &&
		    phdr.p_type == PT_LOAD)
			return phdr.p_vaddr & ~(phdr.p_align ? phdr.p_align - 1
							     : 0);
	}
	return 0;
}

struct pf_elf *pf_elf_open(const char *path)
{
	char why[512];
	if (!pf_libelf_load(why, sizeof why))
		return NULL;
	struct pf_elf *e = calloc(1, sizeof *e);
	if (e == NULL)
		return NULL;
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd >= 0)
		e->elf = pf_libelf.elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (e->elf == NULL || pf_libelf.elf_kind(e->elf) != ELF_K_ELF) {
		pf_elf_close(e);
		return NULL;
	}
	e->load_vaddr = first_load_vaddr(e->elf);
	return e;
}

void pf_elf_close(struct pf_elf *e)
{
	if (e == NULL)
		return;
	if (e->elf)
		pf_libelf.elf_end(e->elf);
	if (e->fd >= 0)
		close(e->fd);
	free(e);
}

uint64_t pf_elf_load_vaddr(const struct pf_elf *e)
{
	return e->load_vaddr;
}

/* The GNU build-id note among the notes of data, or NULL. */
static const unsigned char *build_id_note(Elf_Data *data, size_t *len)
{
	GElf_Nhdr nhdr;
	size_t offset = 0, name_at, desc_at;
	while (data != NULL &&
	       (offset = pf_libelf.gelf_getnote(data, offset, &nhdr, &name_at,
						&desc_at)) > 0) {
		const char *base = data->d_buf;
		if (nhdr.n_type == NT_GNU_BUILD_ID && nhdr.n_namesz == 4 &&
		    memcmp(base + name_at, "GNU", 4) == 0) {
			*len = nhdr.n_descsz;
			return (const unsigned char *)base + desc_at;
		}
	}
	return NULL;
}

/* libelf's note reader over the PT_NOTE segments, not libdwelf's
 * dwelf_elf_gnu_build_id: a dump from cached offsets needs no more of
 * libdw than this (dw_lib.h).  Every file asked about is one that is
 * loaded, so has its program headers. */
void pf_elf_build_id(const struct pf_elf *e, char *hex, size_t size)
{
	const unsigned char *bits = NULL;
	size_t len = 0, phnum = 0;
	hex[0] = '\0';
	if (pf_libelf.elf_getphdrnum(e->elf, &phnum) != 0)
		phnum = 0;
	for (size_t i = 0; bits == NULL && i < phnum; i++) {
		GElf_Phdr phdr;
		if (pf_libelf.gelf_getphdr(e->elf, (int)i, &phdr) == NULL ||
		    phdr.p_type != PT_NOTE)
			continue;
		bits = build_id_note(
			pf_libelf.elf_getdata_rawchunk(
				e->elf, (int64_t)phdr.p_offset, phdr.p_filesz,
				phdr.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR),
			&len);
	}
	if (bits == NULL || len == 0 || len * 2 >= size)
		return;
	for (size_t i = 0; i < len; i++)
		snprintf(hex + 2 * i, 3, "%02x", bits[i]);
}

/* Takes sym for every entry of wanted, not found yet and local or not as
 * asked, that is called sym_name; returns how many it took it for. */
static size_t take(const GElf_Sym *sym, const char *sym_name,
		   struct pf_elf_wanted *wanted, size_t n, bool local)
{
	size_t found = 0;
	for (size_t k = 0; k < n; k++) {
		struct pf_elf_wanted *w = &wanted[k];
		if (w->found || w->local != local ||
		    sym_name[0] != w->name[0] || strcmp(sym_name, w->name) != 0)
			continue;
		w->value = sym->st_value;
		w->size = sym->st_size;
		w->found = true;
		found++;
	}
	return found;
}

/* A symbol table's entry i, if it names a defined symbol. */
static const char *defined(Elf_Data *data, size_t i, const char *names,
			   size_t names_size, GElf_Sym *sym)
{
	if (pf_libelf.gelf_getsym(data, (int)i, sym) == NULL ||
	    sym->st_shndx == SHN_UNDEF || sym->st_name == 0 ||
	    sym->st_name >= names_size)
		return NULL;
	return names + sym->st_name;
}

/* The dynamic linker's hash of a name (DT_GNU_HASH). */
static uint32_t gnu_hash(const char *name)
{
	uint32_t h = 5381;
	for (const unsigned char *c = (const unsigned char *)name; *c; c++)
		h = h * 33 + *c;
	return h;
}

/* The .gnu.hash of the symbol table in section index table, or NULL. */
static Elf_Data *gnu_hash_of(Elf *elf, size_t table)
{
	Elf_Scn *scn = NULL;
	while ((scn = pf_libelf.elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		if (pf_libelf.gelf_getshdr(scn, &shdr) != NULL &&
		    shdr.sh_type == SHT_GNU_HASH && shdr.sh_link == table)
			return pf_libelf.elf_getdata(scn, NULL);
	}
	return NULL;
}

/* Looks the entries of wanted not found yet up in .dynsym through its
 * .gnu.hash, as the dynamic linker does: a few entries each rather than
 * the whole table (of thousands in a libpython).  Returns false when there
 * is no .gnu.hash to use (then the table is read whole). */
static bool find_hashed(Elf *elf, Elf_Scn *scn, Elf_Data *data, size_t count,
			const char *names, size_t names_size,
			struct pf_elf_wanted *wanted, size_t n, size_t *found)
{
	Elf_Data *hash = pf_libelf.gelf_getclass(elf) == ELFCLASS64
				 ? gnu_hash_of(elf, pf_libelf.elf_ndxscn(scn))
				 : NULL;
	const uint32_t *h = hash ? hash->d_buf : NULL;
	if (h == NULL || hash->d_size < 16)
		return false;
	/* nbuckets, symoffset, bloom words (64-bit here), bloom shift; then
	 * the bloom filter, the buckets and the chains. */
	uint64_t nbuckets = h[0], symoffset = h[1], head = 4 + 2 * (uint64_t)h[2];
	uint64_t words = hash->d_size / 4;
	if (nbuckets == 0 || head + nbuckets > words)
		return false;
	const uint32_t *buckets = h + head, *chains = buckets + nbuckets;
	uint64_t nchains = words - head - nbuckets;
	for (size_t k = 0; k < n; k++) {
		if (wanted[k].found || wanted[k].local)
			continue;
		uint32_t want = gnu_hash(wanted[k].name);
		uint64_t i = buckets[want % nbuckets];
		for (; i >= symoffset && i < count && i - symoffset < nchains;
		     i++) {
			uint32_t chained = chains[i - symoffset];
			GElf_Sym sym;
			const char *sym_name;
			if ((chained | 1) == (want | 1) &&
			    (sym_name = defined(data, i, names, names_size,
						&sym)) != NULL)
				*found += take(&sym, sym_name, &wanted[k], 1,
					       false);
			if (wanted[k].found || (chained & 1))
				break;
		}
	}
	return true;
}

/* Fills the entries of wanted not found yet, and local or not as asked,
 * from the symbol tables of type type; returns how many it found. */
static size_t find_in_tables(Elf *elf, Elf64_Word type,
			     struct pf_elf_wanted *wanted, size_t n,
			     bool local)
{
	size_t missing = 0, found = 0;
	for (size_t k = 0; k < n; k++)
		missing += !wanted[k].found && wanted[k].local == local;
	Elf_Scn *scn = NULL;
	while (found < missing &&
	       (scn = pf_libelf.elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		if (pf_libelf.gelf_getshdr(scn, &shdr) == NULL ||
		    shdr.sh_type != type)
			continue;
		Elf_Data *data = pf_libelf.elf_getdata(scn, NULL);
		Elf_Scn *str_scn = pf_libelf.elf_getscn(elf, shdr.sh_link);
		Elf_Data *strings =
			str_scn ? pf_libelf.elf_getdata(str_scn, NULL) : NULL;
		if (data == NULL || shdr.sh_entsize == 0 || strings == NULL ||
		    strings->d_size == 0 ||
		    ((const char *)strings->d_buf)[strings->d_size - 1] != '\0')
			continue;
		/* A string table that ends in NUL holds a string at every
		 * offset: no elf_strptr() checks per symbol. */
		const char *names = strings->d_buf;
		size_t count = shdr.sh_size / shdr.sh_entsize;
		if (type == SHT_DYNSYM && !local &&
		    find_hashed(elf, scn, data, count, names, strings->d_size,
				wanted, n, &found))
			continue;
		for (size_t i = 0; i < count && found < missing; i++) {
			GElf_Sym sym;
			const char *sym_name =
				defined(data, i, names, strings->d_size, &sym);
			if (sym_name)
				found += take(&sym, sym_name, wanted, n, local);
		}
	}
	return found;
}

size_t pf_elf_symbols(struct pf_elf *e, struct pf_elf_wanted *wanted,
		      size_t n)
{
	for (size_t k = 0; k < n; k++)
		wanted[k].found = false;
	size_t found = find_in_tables(e->elf, SHT_DYNSYM, wanted, n, false);
	if (found == 0)
		found = find_in_tables(e->elf, SHT_SYMTAB, wanted, n, false);
	return found + find_in_tables(e->elf, SHT_SYMTAB, wanted, n, true);
}

bool pf_elf_symbol(struct pf_elf *e, const char *name, uint64_t *value,
		   uint64_t *size)
{
	struct pf_elf_wanted wanted = {.name = name, .local = true};
	if (find_in_tables(e->elf, SHT_SYMTAB, &wanted, 1, true) == 0) {
		wanted.local = false;
		if (find_in_tables(e->elf, SHT_DYNSYM, &wanted, 1, false) == 0)
			return false;
	}
	*value = wanted.value;
	if (size)
		*size = wanted.size;
	return true;
}

bool pf_elf_section(struct pf_elf *e, const char *name, uint64_t *addr,
		    uint64_t *size)
{
	size_t shstrndx;
	if (pf_libelf.elf_getshdrstrndx(e->elf, &shstrndx) != 0)
		return false;
	Elf_Scn *scn = NULL;
	while ((scn = pf_libelf.elf_nextscn(e->elf, scn)) != NULL) {
		GElf_Shdr shdr;
		const char *sname;
		if (pf_libelf.gelf_getshdr(scn, &shdr) == NULL ||
		    (sname = pf_libelf.elf_strptr(e->elf, shstrndx,
						      shdr.sh_name)) == NULL ||
		    strcmp(sname, name) != 0)
			continue;
		*addr = shdr.sh_addr;
		*size = shdr.sh_size;
		return true;
	}
	return false;
}
