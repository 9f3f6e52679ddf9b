#include "native/native_symbols.h"

#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "elf/dw_lib.h"
#include "elf/elf_lib.h"

/* What one address resolved to; strings owned by the cache. */
struct resolved {
	uint64_t pc;
	bool return_address;
	bool named;          /* object and symbol looked up */
	bool line_tried;
	Dwfl_Module *mod;    /* NULL: no object is mapped there */
	char *object, *symbol, *source_file;
	uint64_t symbol_offset, load_bias;
	int source_line;
	struct resolved *next;
};

#define RESOLVED_BUCKETS 512

struct function {
	uint64_t start, end;   /* end == start: size unknown */
	const char *name;      /* in the module's string table */
	int rank;              /* binding: global 2, weak 1, local 0 */
};

/* The addresses of one module being named, in one pass over its symbol
 * table: dwfl_module_addrinfo reads the whole table again at every call,
 * which for a libpython or a libc of tens of thousands of symbols cost
 * more than all the rest of a dump, and so did indexing every function of
 * the table for the few dozen addresses a dump looks up. */
struct module_scan {
	size_t count;
	uint64_t *addrs;          /* sorted */
	struct function *best;    /* best[j]: the best function starting
	                             above addrs[j - 1], at or below addrs[j] */
};

struct pf_symbolizer {
	Dwfl *dwfl;
	/* Idle threads wait in the same few functions: most addresses
	 * repeat across threads. */
	struct resolved *buckets[RESOLVED_BUCKETS];
	const struct pf_maps *maps;  /* names the objects; NULL: libdwfl */
};

/* dwfl keeps a pointer to its callbacks, set once libdw is loaded.
 * debuginfo_path NULL: elfutils' default places, as debuginfo.c uses
 * them. */
static Dwfl_Callbacks proc_callbacks;

struct pf_symbolizer *pf_symbolizer_open(pid_t pid, struct pf_error *err)
{
	char why[512];
	if (!pf_dw_load(why, sizeof why)) {
		pf_fail_with_fix(err, PF_ERR_INTERNAL, "%s", why);
		return NULL;
	}
	struct pf_symbolizer *s = calloc(1, sizeof *s);
	if (s == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	proc_callbacks = (Dwfl_Callbacks){
		.find_elf = pf_dw.dwfl_linux_proc_find_elf,
		.find_debuginfo = pf_dw.dwfl_standard_find_debuginfo,
	};
	s->dwfl = pf_dw.dwfl_begin(&proc_callbacks);
	if (s->dwfl == NULL) {
		pf_fail(err, PF_ERR_INTERNAL, "libdwfl: %s",
			pf_dw.dwfl_errmsg(-1));
		free(s);
		return NULL;
	}
	pf_dw.dwfl_report_begin(s->dwfl);
	int rc = pf_dw.dwfl_linux_proc_report(s->dwfl, pid);
	if (pf_dw.dwfl_report_end(s->dwfl, NULL, NULL) != 0 || rc != 0) {
		pf_fail(err, PF_ERR_INTERNAL,
			"cannot list the objects mapped in process %d: %s",
			(int)pid,
			rc > 0 ? strerror(rc) : pf_dw.dwfl_errmsg(-1));
		pf_symbolizer_close(s);
		return NULL;
	}
	return s;
}

struct pf_symbolizer *pf_symbolizer_of(Dwfl *dwfl,
				       const struct pf_maps *maps)
{
	struct pf_symbolizer *s = calloc(1, sizeof *s);
	if (s) {
		s->dwfl = dwfl;
		s->maps = maps;
	}
	return s;
}

/* The module's name, or with maps the path mapped where it starts. */
static const char *object_name(const struct pf_symbolizer *s,
			       Dwfl_Module *mod)
{
	Dwarf_Addr start;
	const char *name = pf_dw.dwfl_module_info(mod, NULL, &start, NULL, NULL,
						  NULL, NULL, NULL);
	for (size_t i = 0; s->maps && i < s->maps->count; i++)
		if (s->maps->items[i].start == start &&
		    s->maps->items[i].path)
			return s->maps->items[i].path;
	return name;
}

static char *dup_or_null(const char *str)
{
	return str ? strdup(str) : NULL;
}

/* pc - 1 for a return address: the call may be the last instruction of
 * its function, or of a line. */
static uint64_t lookup_address(const struct resolved *r)
{
	return r->return_address ? r->pc - 1 : r->pc;
}

static int rank_of(const GElf_Sym *sym)
{
	switch (GELF_ST_BIND(sym->st_info)) {
	case STB_GLOBAL:
		return 2;
	case STB_WEAK:
		return 1;
	default:
		return 0;
	}
}

/* Takes a symbol of the module's table as the best function for the
 * first address at or above its start, when it is a function better than
 * the one taken there: the nearest start below an address, at one start
 * the best-bound name (as dladdr() prefers a global name to a local
 * alias), among equals the first in the table. */
static void consider(struct module_scan *scan, const GElf_Sym *sym,
		     GElf_Addr addr, GElf_Word shndx, const char *name)
{
	int type = GELF_ST_TYPE(sym->st_info);
	if (name == NULL || shndx == SHN_UNDEF ||
	    (type != STT_FUNC && type != STT_GNU_IFUNC))
		return;
	size_t low = 0, high = scan->count;
	while (low < high) {
		size_t mid = low + (high - low) / 2;
		if (scan->addrs[mid] < addr)
			low = mid + 1;
		else
			high = mid;
	}
	if (low == scan->count)
		return;
	struct function *best = &scan->best[low];
	int rank = rank_of(sym);
	/* The name is read last: reading it for each of tens of thousands
	 * of symbols pages in the whole string table. */
	if ((best->name == NULL || addr > best->start ||
	     (addr == best->start && rank > best->rank)) &&
	    name[0] != '\0')
		*best = (struct function){
			.start = addr,
			.end = addr + sym->st_size,
			.name = name,
			.rank = rank,
		};
}

/* The section of elf holding the n symbols that libdwfl numbers for the
 * module, or NULL: none when it merged a second table in (.gnu_debugdata)
 * or a table needs extended section indexes. */
static Elf_Scn *whole_table(Dwfl_Module *mod, Elf *elf, int n,
			    const GElf_Sym *first)
{
	Elf_Scn *scn = NULL, *found = NULL;
	while ((scn = pf_libelf.elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		if (pf_libelf.gelf_getshdr(scn, &shdr) == NULL)
			return NULL;
		if (shdr.sh_type == SHT_SYMTAB_SHNDX)
			return NULL;
		if ((shdr.sh_type == SHT_SYMTAB || shdr.sh_type == SHT_DYNSYM) &&
		    shdr.sh_entsize != 0 &&
		    shdr.sh_size / shdr.sh_entsize == (uint64_t)n)
			found = found ? found : scn;
	}
	/* Its first and last symbols are libdwfl's, from the same file: a
	 * merged table numbers the second table's globals last. */
	GElf_Sym last, ours_first, ours_last;
	GElf_Addr ignored;
	Elf *last_elf = NULL;
	Elf_Data *data = found ? pf_libelf.elf_getdata(found, NULL) : NULL;
	if (data == NULL ||
	    pf_dw.dwfl_module_getsym_info(mod, n - 1, &last, &ignored, NULL,
					  &last_elf, NULL) == NULL ||
	    last_elf != elf ||
	    pf_libelf.gelf_getsym(data, 1, &ours_first) == NULL ||
	    pf_libelf.gelf_getsym(data, n - 1, &ours_last) == NULL ||
	    memcmp(first, &ours_first, sizeof *first) != 0 ||
	    memcmp(&last, &ours_last, sizeof last) != 0)
		return NULL;
	return found;
}

/* Symbol i of a table: straight from its memory on a 64-bit file, where
 * libelf's translation is the file's own layout (the call per symbol cost
 * as much as the rest of the scan); else through gelf_getsym. */
static const GElf_Sym *symbol_at(Elf_Data *data, bool native, int i,
				 GElf_Sym *copy)
{
	if (native)
		return (const GElf_Sym *)data->d_buf + i;
	return pf_libelf.gelf_getsym(data, i, copy);
}

/* Reads the module's symbol table straight from its section, as
 * dwfl_module_getsym_info gives each symbol on x86-64 (where no function
 * descriptors need resolving): that looks up the section of every symbol
 * again, which took most of the time of naming C frames.
 * False, having considered nothing, where the table is not one section. */
static bool scan_table(struct module_scan *scan, Dwfl_Module *mod, int n)
{
	GElf_Sym first;
	GElf_Addr ignored;
	Elf *elf = NULL;
	Dwarf_Addr bias = 0;
	if (n < 2 ||
	    pf_dw.dwfl_module_getsym_info(mod, 1, &first, &ignored, NULL,
					  &elf, &bias) == NULL ||
	    elf == NULL)
		return false;
	Elf_Scn *table = whole_table(mod, elf, n, &first);
	GElf_Shdr shdr;
	size_t nsections;
	Elf_Data *data = table ? pf_libelf.elf_getdata(table, NULL) : NULL;
	Elf_Data *strings =
		data && pf_libelf.gelf_getshdr(table, &shdr)
			? pf_libelf.elf_getdata(
				  pf_libelf.elf_getscn(elf, shdr.sh_link), NULL)
			: NULL;
	if (strings == NULL || pf_libelf.elf_getshdrnum(elf, &nsections) != 0)
		return false;
	bool native = pf_libelf.gelf_getclass(elf) == ELFCLASS64 &&
		      data->d_type == ELF_T_SYM &&
		      data->d_size / sizeof(GElf_Sym) >= (size_t)n;
	/* Whether each section is allocated: only then does libdwfl add the
	 * bias, and give the section's index. */
	bool *allocated = malloc(nsections ? nsections : 1);
	if (allocated == NULL)
		return false;
	for (size_t i = 0; i < nsections; i++) {
		GElf_Shdr sec;
		Elf_Scn *section = pf_libelf.elf_getscn(elf, i);
		allocated[i] = pf_libelf.gelf_getshdr(section, &sec) == NULL ||
			       (sec.sh_flags & SHF_ALLOC);
	}
	for (int i = 1; i < n; i++) {
		GElf_Sym copy;
		const GElf_Sym *sym = symbol_at(data, native, i, &copy);
		if (sym == NULL)
			continue;
		GElf_Word shndx = sym->st_shndx;
		GElf_Addr addr = sym->st_value;
		bool in_section = shndx != SHN_UNDEF && shndx < SHN_LORESERVE;
		if (in_section && shndx < nsections && !allocated[shndx])
			shndx = (GElf_Word)-1;
		else if (in_section)
			addr += bias;
		const char *name = sym->st_name < strings->d_size
					   ? (const char *)strings->d_buf +
						     sym->st_name
					   : NULL;
		consider(scan, sym, addr, shndx, name);
	}
	free(allocated);
	return true;
}

static int by_address(const void *a, const void *b)
{
	uint64_t x = lookup_address(*(struct resolved *const *)a),
		 y = lookup_address(*(struct resolved *const *)b);
	return (x > y) - (x < y);
}

/* Names every address of mod not named yet, by one pass over its symbol
 * table.  False when out of memory. */
static bool name_module(struct pf_symbolizer *s, Dwfl_Module *mod)
{
	struct module_scan scan = {0};
	for (size_t b = 0; b < RESOLVED_BUCKETS; b++)
		for (struct resolved *r = s->buckets[b]; r; r = r->next)
			scan.count += !r->named && r->mod == mod;
	struct resolved **entries = malloc(scan.count * sizeof *entries);
	scan.addrs = malloc(scan.count * sizeof *scan.addrs);
	scan.best = calloc(scan.count, sizeof *scan.best);
	bool ok = entries && scan.addrs && scan.best;
	size_t k = 0;
	for (size_t b = 0; ok && b < RESOLVED_BUCKETS; b++)
		for (struct resolved *r = s->buckets[b]; r; r = r->next)
			if (!r->named && r->mod == mod)
				entries[k++] = r;
	if (ok)
		qsort(entries, k, sizeof *entries, by_address);
	for (size_t j = 0; j < k; j++)
		scan.addrs[j] = lookup_address(entries[j]);
	int n = ok ? pf_dw.dwfl_module_getsymtab(mod) : 0;
	if (n > 0 && !scan_table(&scan, mod, n)) {
		for (int i = 1; i < n; i++) {
			GElf_Sym sym;
			GElf_Addr addr;
			GElf_Word shndx;
			const char *name = pf_dw.dwfl_module_getsym_info(
				mod, i, &sym, &addr, &shndx, NULL, NULL);
			consider(&scan, &sym, addr, shndx, name);
		}
	}
	const char *name = object_name(s, mod);
	Dwarf_Addr bias = 0;
	if (pf_dw.dwfl_module_getelf(mod, &bias) == NULL)
		bias = 0;
	for (size_t j = 0; ok && j < k; j++) {
		/* An address's function is the nearest one taken at or
		 * below it. */
		if (j > 0 && scan.best[j].name == NULL)
			scan.best[j] = scan.best[j - 1];
		const struct function *f = &scan.best[j];
		struct resolved *r = entries[j];
		r->named = true;
		r->load_bias = bias;
		r->object = dup_or_null(name);
		ok = !name || r->object;
		if (!ok || f->name == NULL ||
		    (f->end > f->start && scan.addrs[j] >= f->end))
			continue;
		/* .symtab names carry their version ("memcpy@@GLIBC_2.14");
		 * dladdr(), which faulthandler uses, gives them without. */
		r->symbol = strndup(f->name, strcspn(f->name, "@"));
		r->symbol_offset = r->pc - f->start;
		ok = r->symbol != NULL;
	}
	free(entries);
	free(scan.addrs);
	free(scan.best);
	return ok;
}

static bool resolve_line(struct resolved *r)
{
	r->line_tried = true;
	Dwfl_Line *line = r->mod ? pf_dw.dwfl_module_getsrc(r->mod,
							     lookup_address(r))
				 : NULL;
	int lineno = 0;
	const char *file = line ? pf_dw.dwfl_lineinfo(line, NULL, &lineno, NULL,
						      NULL, NULL)
				: NULL;
	if (file == NULL || lineno <= 0)
		return true;
	r->source_file = strdup(file);
	r->source_line = lineno;
	return r->source_file != NULL;
}

/* The entry for pc: made when new, with its module, not named yet. */
static struct resolved *entry(struct pf_symbolizer *s, uint64_t pc,
			      bool return_address)
{
	size_t b = (pc ^ (pc >> 12)) % RESOLVED_BUCKETS;
	for (struct resolved *r = s->buckets[b]; r; r = r->next)
		if (r->pc == pc && r->return_address == return_address)
			return r;
	struct resolved *r = calloc(1, sizeof *r);
	if (r == NULL)
		return NULL;
	r->pc = pc;
	r->return_address = return_address;
	r->mod = pf_dw.dwfl_addrmodule(s->dwfl, lookup_address(r));
	r->named = r->mod == NULL;
	r->next = s->buckets[b];
	s->buckets[b] = r;
	return r;
}

bool pf_symbolizer_want(struct pf_symbolizer *s, uint64_t pc,
			bool return_address)
{
	return entry(s, pc, return_address) != NULL;
}

bool pf_symbolize(struct pf_symbolizer *s, struct pf_native_frame *out)
{
	struct resolved *r = entry(s, out->pc, out->return_address);
	if (r == NULL || (!r->named && !name_module(s, r->mod)))
		return false;
	out->object = dup_or_null(r->object);
	out->symbol = dup_or_null(r->symbol);
	out->symbol_offset = r->symbol_offset;
	out->load_bias = r->load_bias;
	return (out->object || !r->object) && (out->symbol || !r->symbol);
}

bool pf_symbolize_line(struct pf_symbolizer *s, struct pf_native_frame *out)
{
	struct resolved *r = entry(s, out->pc, out->return_address);
	if (r == NULL || (!r->line_tried && !resolve_line(r)))
		return false;
	out->source_file = dup_or_null(r->source_file);
	out->source_line = r->source_line;
	return out->source_file || !r->source_file;
}

bool pf_symbolizer_object(struct pf_symbolizer *s, uint64_t addr,
			  uint64_t *start, uint64_t *end)
{
	Dwfl_Module *mod = pf_dw.dwfl_addrmodule(s->dwfl, addr);
	Dwarf_Addr low, high;
	if (mod == NULL || pf_dw.dwfl_module_info(mod, NULL, &low, &high, NULL,
						  NULL, NULL, NULL) == NULL)
		return false;
	*start = low;
	*end = high;
	return true;
}

void pf_symbolizer_close(struct pf_symbolizer *s)
{
	if (s == NULL)
		return;
	for (size_t b = 0; b < RESOLVED_BUCKETS; b++) {
		struct resolved *r = s->buckets[b];
		while (r) {
			struct resolved *next = r->next;
			free(r->object);
			free(r->symbol);
			free(r->source_file);
			free(r);
			r = next;
		}
	}
	if (s->dwfl)
		pf_dw.dwfl_end(s->dwfl);
	free(s);
}
