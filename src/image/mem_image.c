#include "image/mem_image.h"

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* Structs the walker copies whole: larger ones mean a corrupt layout. */
#define MAX_STRUCT_READ 65536

/* A cursor over the file's bytes; every take is bounds-checked. */
struct cursor {
	const uint8_t *p, *end;
};

static bool take(struct cursor *c, size_t n, const uint8_t **out)
{
	if ((size_t)(c->end - c->p) < n)
		return false;
	*out = c->p;
	c->p += n;
	return true;
}

static bool take_u32(struct cursor *c, uint32_t *v)
{
	const uint8_t *b;
	if (!take(c, 4, &b))
		return false;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	     (uint32_t)b[3] << 24;
	return true;
}

static bool take_u64(struct cursor *c, uint64_t *v)
{
	uint32_t lo, hi;
	if (!take_u32(c, &lo) || !take_u32(c, &hi))
		return false;
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

/* Sets one "VALS" key; unknown keys are skipped. */
static void set_value(struct pf_image *img, const char *key, int64_t v)
{
	struct pf_layout *l = &img->layout;
	static const char prefix[] = "layout.";
	if (strncmp(key, prefix, sizeof prefix - 1) == 0) {
		const char *name = key + sizeof prefix - 1;
#define OFFSET_(g, f)                                                         \
	if (strcmp(name, #g "." #f) == 0)                                    \
		l->g.f = v;
		PF_LAYOUT_OFFSET_FIELDS(OFFSET_)
#undef OFFSET_
#define SHIFT_(g, f)                                                          \
	if (strcmp(name, #g "." #f) == 0)                                    \
		l->g.f = (unsigned)v;
		PF_LAYOUT_SHIFT_FIELDS(SHIFT_)
#undef SHIFT_
#define SCALAR_(k, m)                                                         \
	if (strcmp(name, #k) == 0)                                           \
		l->m = (__typeof__(l->m))v;
		PF_IMAGE_LAYOUT_SCALARS(SCALAR_)
#undef SCALAR_
		return;
	}
	if (strcmp(key, "pid") == 0)
		img->pid = (int)v;
	else if (strcmp(key, "runtime") == 0)
		img->runtime = (uint64_t)v;
	else if (strcmp(key, "micro_known") == 0)
		img->micro_known = v != 0;
	else if (strcmp(key, "debug_build") == 0)
		img->debug_build = v != 0;
	else if (strcmp(key, "module_type") == 0)
		img->module_type = (uint64_t)v;
	else if (strcmp(key, "frozenset_type") == 0)
		img->frozenset_type = (uint64_t)v;
	else if (strcmp(key, "coro_type") == 0)
		img->coro_type = (uint64_t)v;
	else if (strcmp(key, "gen_type") == 0)
		img->gen_type = (uint64_t)v;
	else if (strcmp(key, "awaits.asend_gen") == 0)
		img->awaits.asend_gen = v;
	else if (strcmp(key, "awaits.athrow_gen") == 0)
		img->awaits.athrow_gen = v;
	else if (strcmp(key, "awaits.wrapper_coro") == 0)
		img->awaits.wrapper_coro = v;
	else if (strcmp(key, "awaits.futureiter_future") == 0)
		img->awaits.futureiter_future = v;
	else if (strcmp(key, "asyncio.model") == 0)
		img->asyncio.model = (enum pf_asyncio_model)v;
	else if (strncmp(key, "asyncio.", 8) == 0) {
		for (size_t i = 0; i < PF_ASYNCIO_BLOB_WORDS; i++)
			if (strcmp(key + 8, pf_asyncio_word_names[i]) == 0) {
				*pf_asyncio_layout_field(&img->asyncio, i) = v;
				img->has_asyncio = true;
			}
		for (size_t i = 0; i < PF_ASYNCIO_CTASK_WORDS; i++)
			if (strcmp(key + 8,
				   pf_asyncio_ctask_word_names[i]) == 0) {
				*pf_asyncio_ctask_field(&img->asyncio, i) = v;
				img->has_asyncio = true;
			}
	}
}

static bool within(int64_t offset, int64_t width, int64_t size)
{
	return offset == PF_NO_OFFSET ||
	       (offset >= 0 && size >= width && offset <= size - width);
}

/* TaskObj as DWARF gives it: every field inside the struct; a size of 0
 * (no _asyncio: pure-Python tasks only) leaves the fields unread. */
static bool ctask_safe(struct pf_asyncio_layout *a)
{
	const int64_t size = a->ctask.size;
	if (size < 0 || size > MAX_STRUCT_READ)
		return false;
	for (size_t i = 1; size > 0 && i < PF_ASYNCIO_CTASK_WORDS; i++) {
		const int64_t offset = *pf_asyncio_ctask_field(a, i);
		if (offset == PF_NO_OFFSET ||
		    !within(offset, pf_asyncio_ctask_widths[i], size))
			return false;
	}
	return true;
}

/* The task walk's offsets, checked as the live section's or the DWARF's
 * are: an image whose offsets fail keeps its threads and loses its
 * tasks.  Images without "asyncio.model" are of 3.14's task lists. */
static void check_asyncio(struct pf_image *img)
{
	uint64_t words[PF_ASYNCIO_BLOB_WORDS];
	char note[160];
	for (size_t i = 0; i < PF_ASYNCIO_BLOB_WORDS; i++)
		words[i] = (uint64_t)*pf_asyncio_layout_field(&img->asyncio, i);
	if (!img->has_asyncio)
		return;
	if (img->asyncio.model == PF_ASYNCIO_REGISTRY)
		img->has_asyncio = ctask_safe(&img->asyncio);
	else if (img->asyncio.model != PF_ASYNCIO_TASK_LISTS ||
		 !pf_asyncio_layout_from_blob(&img->asyncio, words,
					      sizeof words, note, sizeof note))
		img->has_asyncio = false;
}

/* Calls fn for each record of a "VALS" payload; false when malformed. */
static bool each_value(struct cursor c, struct pf_image *img,
		       void (*fn)(struct pf_image *, const char *, int64_t))
{
	while (c.p < c.end) {
		const uint8_t *klen, *kbytes;
		uint64_t v;
		char key[256];
		if (!take(&c, 1, &klen) || !take(&c, *klen, &kbytes) ||
		    !take_u64(&c, &v))
			return false;
		memcpy(key, kbytes, *klen);
		key[*klen] = '\0';
		fn(img, key, (int64_t)v);
	}
	return true;
}

static void set_version(struct pf_image *img, const char *key, int64_t v)
{
	if (strcmp(key, "version.major") == 0)
		img->major = (unsigned)v;
	else if (strcmp(key, "version.minor") == 0)
		img->minor = (unsigned)v;
	else if (strcmp(key, "version.micro") == 0)
		img->micro = (unsigned)v;
}

/* What the walker and the modules reader take on trust from a layout: the
 * fields they pick out of a copied struct lie inside it, and every
 * model is one they know.  Layouts from DWARF or the debug offsets satisfy
 * this by construction; a file may not. */
static bool layout_safe(const struct pf_layout *l)
{
	const int64_t fs = l->frame.size, cs = l->code.size;
	bool sizes = fs > 0 && fs <= MAX_STRUCT_READ && cs > 0 &&
		     cs <= MAX_STRUCT_READ;
	bool frame = within(l->frame.back, 8, fs) &&
		     within(l->frame.code, 8, fs) &&
		     within(l->frame.lasti, 4, fs) &&
		     within(l->frame.lineno, 4, fs) &&
		     within(l->frame.instr, 8, fs) &&
		     within(l->frame.owner, 1, fs) &&
		     within(l->frame.is_entry, 1, fs) &&
		     within(l->ft.tlbc_index, 4, fs) &&
		     within(l->coro.stackpointer, 8, fs);
	bool code = within(l->code.filename, 8, cs) &&
		    within(l->code.name, 8, cs) &&
		    within(l->code.firstlineno, 4, cs) &&
		    within(l->code.linetable, 8, cs) &&
		    within(l->ft.co_tlbc, 8, cs);
	bool tstate = within(l->tstate.next, 8, MAX_STRUCT_READ) &&
		      within(l->tstate.interp, 8, MAX_STRUCT_READ) &&
		      within(l->tstate.thread_id, 8, MAX_STRUCT_READ) &&
		      within(l->tstate.frame, 8, MAX_STRUCT_READ) &&
		      within(l->tstate.cframe, 8, MAX_STRUCT_READ);
	bool entries = within(l->dict_entry.me_key, 8, l->dict_entry.size) &&
		       within(l->dict_entry.me_value, 8, l->dict_entry.size) &&
		       within(l->dict_unicode_entry.me_key, 8,
			      l->dict_unicode_entry.size) &&
		       within(l->dict_unicode_entry.me_value, 8,
			      l->dict_unicode_entry.size) &&
		       within(l->set_entry.key, 8, l->set_entry.size);
	bool models = (unsigned)l->frame_model <= PF_FRAMES_INTERPRETER &&
		      (unsigned)l->line_table <= PF_LINES_LNOTAB_UNSIGNED &&
		      (unsigned)l->dict_indices <= PF_DICT_INDICES_LOG2_BYTES &&
		      (unsigned)l->dict_split <= PF_DICT_SPLIT_ORDER_AFTER &&
		      (unsigned)l->source <= PF_SOURCE_TABLE &&
		      l->frame.lasti_scale <= 2 && l->unicode.kind_shift < 30 &&
		      l->unicode.compact_shift < 32 &&
		      l->unicode.ascii_shift < 32 && l->owner_cstack >= -1 &&
		      l->owner_cstack <= 255 && l->dict_keys_general >= -1 &&
		      l->dict_keys_general <= 255;
	return sizes && frame && code && tstate && entries && models;
}

static int by_address(const void *a, const void *b)
{
	const struct pf_image_range *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static bool parse_ranges(struct pf_image *img, struct cursor c)
{
	size_t n = 0, cap = 0;
	while (c.p < c.end) {
		uint64_t addr;
		uint32_t len;
		const uint8_t *bytes;
		if (!take_u64(&c, &addr) || !take_u32(&c, &len) ||
		    !take(&c, len, &bytes))
			return false;
		if (addr >= (1ull << 63) || len > (1ull << 63) - addr)
			return false;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			void *grown = realloc(img->ranges,
					      cap * sizeof *img->ranges);
			if (grown == NULL)
				return false;
			img->ranges = grown;
		}
		img->ranges[n++] = (struct pf_image_range){addr, len, bytes};
	}
	img->nranges = n;
	if (n > 0)
		qsort(img->ranges, n, sizeof *img->ranges, by_address);
	for (size_t i = 1; i < n; i++)
		if (img->ranges[i - 1].addr + img->ranges[i - 1].len >
		    img->ranges[i].addr)
			return false;
	return true;
}

enum pf_status pf_image_parse(struct pf_image *img, const uint8_t *data,
			      size_t len, struct pf_error *err)
{
	memset(img, 0, sizeof *img);
	img->awaits = PF_AWAIT_LAYOUT_NONE;
	struct cursor c = {data, data + len};
	const uint8_t *magic;
	uint32_t version;
	if (!take(&c, 8, &magic) ||
	    memcmp(magic, PF_IMAGE_MAGIC, sizeof PF_IMAGE_MAGIC) != 0 ||
	    !take_u32(&c, &version))
		return pf_fail(err, PF_ERR_BAD_MEMORY, "not a pyfault image");
	if (version != PF_IMAGE_VERSION)
		return pf_fail(err, PF_ERR_UNSUPPORTED,
			       "image format version %u, expected %u",
			       (unsigned)version, PF_IMAGE_VERSION);
	struct cursor vals = {0}, mem = {0};
	while (c.p < c.end) {
		const uint8_t *tag, *payload;
		uint32_t n;
		if (!take(&c, 4, &tag) || !take_u32(&c, &n) ||
		    !take(&c, n, &payload))
			return pf_fail(err, PF_ERR_BAD_MEMORY,
				       "truncated image section");
		struct cursor body = {payload, payload + n};
		if (memcmp(tag, "VALS", 4) == 0)
			vals = body;
		else if (memcmp(tag, "MEMR", 4) == 0)
			mem = body;
		else if (memcmp(tag, "TEXT", 4) == 0) {
			img->text = (const char *)payload;
			img->text_len = n;
		} else if (memcmp(tag, "NAME", 4) == 0) {
			img->names = payload;
			img->names_len = n;
		} else if (memcmp(tag, "NOTE", 4) == 0) {
			img->note = (const char *)payload;
			img->note_len = n;
		}
	}
	/* The version first: it gives the layout's defaults. */
	if (vals.p == NULL || !each_value(vals, img, set_version))
		return pf_fail(err, PF_ERR_BAD_MEMORY,
			       "image without a valid VALS section");
	if (!pf_layout_init_version(&img->layout, img->major, img->minor,
				    img->micro))
		return pf_fail(err, PF_ERR_UNSUPPORTED,
			       "image of Python %u.%u, which is not supported",
			       img->major, img->minor);
	each_value(vals, img, set_value);
	check_asyncio(img);
	const char *missing = "";
	if (!layout_safe(&img->layout) ||
	    !pf_layout_complete(&img->layout, &missing))
		return pf_fail(err, PF_ERR_BAD_MEMORY,
			       "image with an unusable layout%s%s",
			       *missing ? ": it lacks " : "", missing);
	if (!parse_ranges(img, mem)) {
		pf_image_free(img);
		return pf_fail(err, PF_ERR_BAD_MEMORY,
			       "image with malformed or overlapping memory");
	}
	return PF_OK;
}

enum pf_status pf_image_load(struct pf_image *img, const char *path,
			     struct pf_error *err)
{
	memset(img, 0, sizeof *img);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return pf_fail(err, PF_ERR_INTERNAL, "cannot open %s: %s", path,
			       strerror(errno));
	uint8_t *data = malloc(PF_IMAGE_MAX_SIZE);
	size_t len = data ? fread(data, 1, PF_IMAGE_MAX_SIZE, f) : 0;
	bool too_big = data && len == PF_IMAGE_MAX_SIZE && fgetc(f) != EOF;
	bool failed = data == NULL || ferror(f);
	fclose(f);
	if (failed || too_big) {
		free(data);
		return pf_fail(err, PF_ERR_INTERNAL, "cannot read %s: %s", path,
			       too_big ? "larger than any image" : "read error");
	}
	enum pf_status st = pf_image_parse(img, data, len, err);
	if (st != PF_OK)
		free(data);
	else
		img->owned = data;
	return st;
}

void pf_image_free(struct pf_image *img)
{
	free(img->ranges);
	free(img->owned);
	memset(img, 0, sizeof *img);
}

static void put_u32(FILE *out, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		fputc((int)(v >> (8 * i)) & 0xff, out);
}

static void put_u64(FILE *out, uint64_t v)
{
	put_u32(out, (uint32_t)v);
	put_u32(out, (uint32_t)(v >> 32));
}

static void put_value(FILE *out, const char *key, int64_t v)
{
	fputc((int)strlen(key), out);
	fputs(key, out);
	put_u64(out, (uint64_t)v);
}

static void put_values(FILE *out, const struct pf_image *img)
{
	const struct pf_layout *l = &img->layout;
	put_value(out, "pid", img->pid);
	put_value(out, "runtime", (int64_t)img->runtime);
	put_value(out, "version.major", img->major);
	put_value(out, "version.minor", img->minor);
	put_value(out, "version.micro", img->micro);
	put_value(out, "micro_known", img->micro_known);
	put_value(out, "debug_build", img->debug_build);
	put_value(out, "module_type", (int64_t)img->module_type);
	put_value(out, "frozenset_type", (int64_t)img->frozenset_type);
	put_value(out, "coro_type", (int64_t)img->coro_type);
	put_value(out, "gen_type", (int64_t)img->gen_type);
	/* Each model its own words: 3.14's from _AsyncioDebug, 3.11-3.13's
	 * TaskObj. */
	struct pf_asyncio_layout a = img->asyncio;
	const bool registry = a.model == PF_ASYNCIO_REGISTRY;
	if (img->has_asyncio)
		put_value(out, "asyncio.model", a.model);
	for (size_t i = 0;
	     img->has_asyncio && !registry && i < PF_ASYNCIO_BLOB_WORDS; i++) {
		char key[64];
		snprintf(key, sizeof key, "asyncio.%s", pf_asyncio_word_names[i]);
		put_value(out, key, *pf_asyncio_layout_field(&a, i));
	}
	for (size_t i = 0;
	     img->has_asyncio && registry && i < PF_ASYNCIO_CTASK_WORDS; i++) {
		char key[64];
		snprintf(key, sizeof key, "asyncio.%s",
			 pf_asyncio_ctask_word_names[i]);
		put_value(out, key, *pf_asyncio_ctask_field(&a, i));
	}
	const struct {
		const char *key;
		int64_t offset;
	} awaits[] = {
		{"awaits.asend_gen", img->awaits.asend_gen},
		{"awaits.athrow_gen", img->awaits.athrow_gen},
		{"awaits.wrapper_coro", img->awaits.wrapper_coro},
		{"awaits.futureiter_future", img->awaits.futureiter_future},
	};
	for (size_t i = 0;
	     img->has_asyncio && i < sizeof awaits / sizeof *awaits; i++)
		if (awaits[i].offset != PF_NO_OFFSET)
			put_value(out, awaits[i].key, awaits[i].offset);
#define OFFSET_(g, f)                                                         \
	if (l->g.f != PF_NO_OFFSET)                                          \
		put_value(out, "layout." #g "." #f, l->g.f);
	PF_LAYOUT_OFFSET_FIELDS(OFFSET_)
#undef OFFSET_
#define SHIFT_(g, f) put_value(out, "layout." #g "." #f, l->g.f);
	PF_LAYOUT_SHIFT_FIELDS(SHIFT_)
#undef SHIFT_
#define SCALAR_(k, m) put_value(out, "layout." #k, (int64_t)l->m);
	PF_IMAGE_LAYOUT_SCALARS(SCALAR_)
#undef SCALAR_
}

/* A section whose payload put() writes: its length is known only after. */
static bool put_section(FILE *out, const char *tag,
			void (*put)(FILE *, const struct pf_image *),
			const struct pf_image *img)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	if (mem == NULL)
		return false;
	put(mem, img);
	bool ok = fclose(mem) == 0 && len <= UINT32_MAX;
	if (ok) {
		fwrite(tag, 1, 4, out);
		put_u32(out, (uint32_t)len);
		fwrite(buf, 1, len, out);
	}
	free(buf);
	return ok;
}

static void put_ranges(FILE *out, const struct pf_image *img)
{
	for (size_t i = 0; i < img->nranges; i++) {
		put_u64(out, img->ranges[i].addr);
		put_u32(out, img->ranges[i].len);
		fwrite(img->ranges[i].bytes, 1, img->ranges[i].len, out);
	}
}

static void put_text(FILE *out, const struct pf_image *img)
{
	fwrite(img->text, 1, img->text_len, out);
}

static void put_names(FILE *out, const struct pf_image *img)
{
	/* Images of versions that print no names have none. */
	if (img->names_len)
		fwrite(img->names, 1, img->names_len, out);
}

static void put_note(FILE *out, const struct pf_image *img)
{
	fwrite(img->note, 1, img->note_len, out);
}

bool pf_image_write(FILE *out, const struct pf_image *img)
{
	fwrite(PF_IMAGE_MAGIC, 1, sizeof PF_IMAGE_MAGIC, out);
	put_u32(out, PF_IMAGE_VERSION);
	return put_section(out, "VALS", put_values, img) &&
	       put_section(out, "MEMR", put_ranges, img) &&
	       put_section(out, "NAME", put_names, img) &&
	       put_section(out, "TEXT", put_text, img) &&
	       put_section(out, "NOTE", put_note, img) && !ferror(out);
}

/* The range holding addr, or NULL. */
static const struct pf_image_range *range_at(const struct pf_image *img,
					     uint64_t addr)
{
	size_t lo = 0, hi = img->nranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (img->ranges[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	const struct pf_image_range *r = &img->ranges[lo - 1];
	return addr - r->addr < r->len ? r : NULL;
}

/* A read may span adjacent ranges, as one spans adjacent mappings live. */
static bool read_image(struct pf_mem *mem, uint64_t addr, void *buf,
		       size_t len)
{
	const struct pf_image *img = mem->backend;
	uint8_t *dst = buf;
	while (len > 0) {
		const struct pf_image_range *r = range_at(img, addr);
		if (r == NULL)
			return false;
		uint64_t avail = r->addr + r->len - addr;
		size_t n = avail < len ? (size_t)avail : len;
		memcpy(dst, r->bytes + (addr - r->addr), n);
		dst += n;
		addr += n;
		len -= n;
	}
	return true;
}

void pf_mem_open_image(struct pf_mem *mem, const struct pf_image *img)
{
	memset(mem, 0, sizeof *mem);
	mem->fd = -1;
	mem->backend = (void *)img;
	mem->read = read_image;
}

void pf_image_thread_names(const struct pf_image *img,
			   struct pf_snapshot *snap)
{
	struct cursor c = {img->names, img->names + img->names_len};
	uint64_t thread_id;
	const uint8_t *len, *name;
	while (c.p != NULL && take_u64(&c, &thread_id) && take(&c, 1, &len) &&
	       take(&c, *len, &name)) {
		for (size_t i = 0; i < snap->nthreads; i++) {
			struct pf_thread_dump *t = &snap->threads[i];
			if (t->thread_id == thread_id && *len < sizeof t->name) {
				memcpy(t->name, name, *len);
				t->name[*len] = '\0';
			}
		}
	}
}

void pf_image_target(const struct pf_image *img, struct pf_target *t)
{
	memset(t, 0, sizeof *t);
	t->pid = img->pid;
	t->runtime = img->runtime;
	t->major = img->major;
	t->minor = img->minor;
	t->micro = img->micro;
	t->micro_known = img->micro_known;
	t->debug_build = img->debug_build;
	t->module_type = img->module_type;
	t->frozenset_type = img->frozenset_type;
	t->coro_type = img->coro_type;
	t->gen_type = img->gen_type;
	t->dwarf_fill_tried = true;
	t->layout = img->layout;
	/* Images hold 3.7+ interpreters, found through _PyRuntime. */
	if (img->layout.runtime.interpreters_head != PF_NO_OFFSET)
		t->interp_head = img->runtime +
				 (uint64_t)img->layout.runtime.interpreters_head;
}
