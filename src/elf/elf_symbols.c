#include "elf/elf_symbols.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf/elf_facts.h"
#include "elf/elf_lib.h"

struct pf_elf {
	int fd;
	struct stat st;
	Elf *elf;          /* NULL until libelf has read the file */
	bool read_tried;   /* then elf, or why, says how that went */
	bool no_libelf;
	char why[512];
	uint64_t load_vaddr;
	struct pf_elf_facts facts;
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

/* Has libelf read the file, the first time a question needs it. */
static bool read_file(struct pf_elf *e)
{
	if (e->read_tried)
		return e->elf != NULL;
	e->read_tried = true;
	if (!pf_libelf_load(e->why, sizeof e->why)) {
		e->no_libelf = true;
		return false;
	}
	e->elf = pf_libelf.elf_begin(e->fd, ELF_C_READ_MMAP, NULL);
	if (e->elf == NULL || pf_libelf.elf_kind(e->elf) != ELF_K_ELF) {
		if (e->elf)
			pf_libelf.elf_end(e->elf);
		e->elf = NULL;
		snprintf(e->why, sizeof e->why, "not an ELF file");
		return false;
	}
	e->load_vaddr = first_load_vaddr(e->elf);
	return true;
}

struct pf_elf *pf_elf_open_lazily(const char *path)
{
	struct pf_elf *e = calloc(1, sizeof *e);
	if (e == NULL)
		return NULL;
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0 || fstat(e->fd, &e->st) != 0) {
		pf_elf_close(e);
		return NULL;
	}
	return e;
}

struct pf_elf *pf_elf_open(const char *path)
{
	struct pf_elf *e = pf_elf_open_lazily(path);
	if (e && !read_file(e)) {
		pf_elf_close(e);
		return NULL;
	}
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
	pf_elf_facts_free(&e->facts);
	free(e);
}

void pf_elf_identity(const struct pf_elf *e, char *key, size_t key_size,
		     char *stamp, size_t stamp_size)
{
	const struct stat *st = &e->st;
	snprintf(key, key_size, "%016llx%016llx",
		 (unsigned long long)st->st_dev, (unsigned long long)st->st_ino);
	snprintf(stamp, stamp_size, "%lld %lld.%09ld %lld.%09ld",
		 (long long)st->st_size, (long long)st->st_mtim.tv_sec,
		 st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
		 st->st_ctim.tv_nsec);
}

void pf_elf_use_facts(struct pf_elf *e, const char *text, size_t len)
{
	pf_elf_facts_set(&e->facts, text, len);
}

const char *pf_elf_new_facts(const struct pf_elf *e, size_t *len)
{
	*len = e->facts.len;
	return e->facts.learnt ? e->facts.text : NULL;
}

enum pf_elf_kind pf_elf_check(struct pf_elf *e, char *why, size_t size)
{
	/* Facts are only ever learnt of a file that libelf could read. */
	if (e->facts.len > 0 || read_file(e))
		return PF_ELF_READABLE;
	snprintf(why, size, "%s", e->why);
	return e->no_libelf ? PF_ELF_NO_LIBELF : PF_ELF_NOT_ELF;
}

/* A hexadecimal number of the facts, up to the next space or the end. */
static bool hex_fact(const char **p, const char *end, uint64_t *v)
{
	char *stop;
	if (*p >= end || !isxdigit((unsigned char)**p))
		return false;
	errno = 0;
	unsigned long long n = strtoull(*p, &stop, 16);
	if (errno != 0 || stop > end || (stop < end && *stop != ' ' &&
					  *stop != ','))
		return false;
	*v = n;
	*p = stop;
	return true;
}

/* answer[len] is one hexadecimal number. */
static bool whole_hex_fact(const char *answer, size_t len, uint64_t *v)
{
	const char *end = answer + len;
	return hex_fact(&answer, end, v) && answer == end;
}

uint64_t pf_elf_load_vaddr(struct pf_elf *e)
{
	size_t len;
	const char *known = pf_elf_facts_answer(&e->facts, "load-vaddr", &len);
	uint64_t v;
	if (known && whole_hex_fact(known, len, &v))
		return v;
	if (!read_file(e))
		return 0;
	char answer[32];
	snprintf(answer, sizeof answer, "%" PRIx64, e->load_vaddr);
	pf_elf_facts_add(&e->facts, "load-vaddr", answer);
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
static void read_build_id(const struct pf_elf *e, char *hex, size_t size)
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

void pf_elf_build_id(struct pf_elf *e, char *hex, size_t size)
{
	char known_hex[1024];
	size_t len;
	const char *known = pf_elf_facts_answer(&e->facts, "build-id", &len);
	hex[0] = '\0';
	if (known == NULL) {
		if (!read_file(e))
			return;
		read_build_id(e, known_hex, sizeof known_hex);
		pf_elf_facts_add(&e->facts, "build-id",
				 known_hex[0] ? known_hex : "-");
		known = known_hex;
		len = strlen(known_hex);
	}
	if (len < size && !(len == 1 && known[0] == '-') &&
	    strspn(known, "0123456789abcdef") >= len) {
		memcpy(hex, known, len);
		hex[len] = '\0';
	}
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

/* The question of a lookup of wanted[0..n) as kind asks it ("symbols" for
 * pf_elf_symbols, "symbol" for pf_elf_symbol: they search differently):
 * "KIND NAME[/local]...".  false when it does not fit. */
static bool symbols_question(const char *kind,
			     const struct pf_elf_wanted *wanted, size_t n,
			     char *q, size_t size)
{
	size_t used = (size_t)snprintf(q, size, "%s", kind);
	for (size_t k = 0; k < n && used < size; k++) {
		if (strpbrk(wanted[k].name, " /\n") != NULL)
			return false;
		used += (size_t)snprintf(q + used, size - used, " %s%s",
					 wanted[k].name,
					 wanted[k].local ? "/local" : "");
	}
	return used < size;
}

/* Fills wanted[0..n) from the answer to question: "-" or "VALUE,SIZE" per
 * name.  false, with nothing filled, when it was not asked before. */
static bool known_symbols(const struct pf_elf *e, const char *question,
			  struct pf_elf_wanted *wanted, size_t n,
			  size_t *found)
{
	size_t len;
	const char *p = pf_elf_facts_answer(&e->facts, question, &len);
	if (p == NULL)
		return false;
	const char *end = p + len;
	size_t k;
	*found = 0;
	for (k = 0; k < n; k++) {
		wanted[k].found = false;
		if (k > 0 && (p >= end || *p++ != ' '))
			break;
		if (p < end && *p == '-') {
			p++;
			continue;
		}
		if (!hex_fact(&p, end, &wanted[k].value) || p >= end ||
		    *p++ != ',' || !hex_fact(&p, end, &wanted[k].size))
			break;
		wanted[k].found = true;
		++*found;
	}
	if (k == n && p == end)
		return true;
	for (k = 0; k < n; k++)
		wanted[k].found = false;
	*found = 0;
	return false;
}

static void learn_symbols(struct pf_elf *e, const char *question,
			  const struct pf_elf_wanted *wanted, size_t n)
{
	char answer[4096];
	size_t used = 0;
	for (size_t k = 0; k < n && used < sizeof answer; k++) {
		const char *space = k > 0 ? " " : "";
		used += (size_t)(wanted[k].found
			? snprintf(answer + used, sizeof answer - used,
				   "%s%" PRIx64 ",%" PRIx64, space,
				   wanted[k].value, wanted[k].size)
			: snprintf(answer + used, sizeof answer - used, "%s-",
				   space));
	}
	if (used < sizeof answer)
		pf_elf_facts_add(&e->facts, question, answer);
}

/* The exported names in .dynsym, where the dynamic linker finds them;
 * .symtab for them only when .dynsym has none, and for the local ones. */
static size_t exported_first(Elf *elf, struct pf_elf_wanted *wanted,
			     size_t n)
{
	size_t found = find_in_tables(elf, SHT_DYNSYM, wanted, n, false);
	if (found == 0)
		found = find_in_tables(elf, SHT_SYMTAB, wanted, n, false);
	return found + find_in_tables(elf, SHT_SYMTAB, wanted, n, true);
}

/* Each name in .symtab as a local, else in .dynsym. */
static size_t local_first(Elf *elf, struct pf_elf_wanted *wanted, size_t n)
{
	size_t found = 0;
	for (size_t k = 0; k < n; k++) {
		wanted[k].local = true;
		if (find_in_tables(elf, SHT_SYMTAB, &wanted[k], 1, true) == 0) {
			wanted[k].local = false;
			find_in_tables(elf, SHT_DYNSYM, &wanted[k], 1, false);
		}
		found += wanted[k].found;
	}
	return found;
}

/* wanted[0..n) as lookup finds them in the file, or as the facts answered
 * the same question before (kind names the lookup: they find different
 * symbols); a question the file answers becomes a fact.  Returns how many
 * were found. */
static size_t ask_symbols(struct pf_elf *e, const char *kind,
			  size_t (*lookup)(Elf *, struct pf_elf_wanted *,
					   size_t),
			  struct pf_elf_wanted *wanted, size_t n)
{
	char question[4096];
	bool askable = symbols_question(kind, wanted, n, question,
					sizeof question);
	size_t found = 0;
	for (size_t k = 0; k < n; k++)
		wanted[k].found = false;
	if ((askable && known_symbols(e, question, wanted, n, &found)) ||
	    !read_file(e))
		return found;
	found = lookup(e->elf, wanted, n);
	if (askable)
		learn_symbols(e, question, wanted, n);
	return found;
}

size_t pf_elf_symbols(struct pf_elf *e, struct pf_elf_wanted *wanted,
		      size_t n)
{
	return ask_symbols(e, "symbols", exported_first, wanted, n);
}

bool pf_elf_symbol(struct pf_elf *e, const char *name, uint64_t *value,
		   uint64_t *size)
{
	struct pf_elf_wanted wanted = {.name = name};
	if (ask_symbols(e, "symbol", local_first, &wanted, 1) == 0)
		return false;
	*value = wanted.value;
	if (size)
		*size = wanted.size;
	return true;
}

bool pf_elf_section(struct pf_elf *e, const char *name, uint64_t *addr,
		    uint64_t *size)
{
	size_t shstrndx;
	if (!read_file(e) ||
	    pf_libelf.elf_getshdrstrndx(e->elf, &shstrndx) != 0)
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
