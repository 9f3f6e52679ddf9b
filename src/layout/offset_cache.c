#include "layout/offset_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An entry is about 2 KB; anything far larger is not one of ours. */
#define MAX_ENTRY 16384

#define MAGIC "pyfault-offsets"
#define MEMBERS_MAGIC "pyfault-members"
#define ELF_FACTS_MAGIC "pyfault-elf-facts"
#define NO_OFFSET_TEXT "-"

/* FNV-1a: detects a torn or edited entry; nothing here defends against a
 * forger, the directory's ownership does that. */
static uint64_t checksum(const char *data, size_t len)
{
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)data[i];
		h *= 1099511628211ull;
	}
	return h;
}

static bool set_why(char *why, size_t why_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool set_why(char *why, size_t why_size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_size, fmt, ap);
	va_end(ap);
	return false;
}

static bool owned_by_us(const struct stat *st)
{
	return st->st_uid == geteuid();
}

bool pf_offset_cache_dir(char *dir, size_t size, char *why, size_t why_size)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	int n;
	/* The XDG spec ignores a relative XDG_CACHE_HOME. */
	if (xdg != NULL && xdg[0] == '/') {
		n = snprintf(dir, size, "%s/pyfault", xdg);
	} else {
		const char *home = getenv("HOME");
		struct stat st;
		if (home == NULL || home[0] != '/' || stat(home, &st) != 0 ||
		    !owned_by_us(&st)) {
			const struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (home == NULL || home[0] != '/')
			return set_why(why, why_size,
				       "no home directory for uid %u",
				       (unsigned)geteuid());
		n = snprintf(dir, size, "%s/.cache/pyfault", home);
	}
	if (n < 0 || (size_t)n >= size)
		return set_why(why, why_size, "cache directory name too long");
	return true;
}

/* Opens dir without following a link in its last component, and only
 * when it is ours and no one else may write there. */
static int open_dir(const char *dir, bool create, char *why, size_t why_size)
{
	if (create) {
		char parent[4096];
		const char *slash = strrchr(dir, '/');
		size_t len = slash ? (size_t)(slash - dir) : 0;
		if (len > 0 && len < sizeof parent) {
			memcpy(parent, dir, len);
			parent[len] = '\0';
			/* ~/.cache itself may not exist yet. */
			if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
				set_why(why, why_size, "cannot create %s: %s",
					parent, strerror(errno));
				return -1;
			}
		}
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			set_why(why, why_size, "cannot create %s: %s", dir,
				strerror(errno));
			return -1;
		}
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)) {
		set_why(why, why_size, "%s is a symbolic link, not followed",
			dir);
		errno = ELOOP;
		return -1;
	}
	if (fd < 0) {
		int e = errno;
		set_why(why, why_size, "cannot open %s: %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) != 0 || !owned_by_us(&st) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		set_why(why, why_size,
			"%s is not a directory of uid %u writable by it alone",
			dir, (unsigned)geteuid());
		close(fd);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* BUILD_ID.SUFFIX: "offsets" for a layout, the kind for members. */
static bool entry_name(const char *build_id, const char *suffix, char *name,
		       size_t size)
{
	size_t len = strlen(build_id), slen = strlen(suffix);
	if (len == 0 || strspn(build_id, "0123456789abcdef") != len ||
	    slen == 0 || strspn(suffix, "abcdefghijklmnopqrstuvwxyz") != slen)
		return false;
	int n = snprintf(name, size, "%s.%s", build_id, suffix);
	return n > 0 && (size_t)n < size;
}

/* ---------------------------------------------------------------- format */

struct text {
	char *buf;
	size_t used, size;
	bool overflow;
};

static void add(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(t->buf + t->used, t->size - t->used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->size - t->used)
		t->overflow = true;
	else
		t->used += (size_t)n;
}

/* The lines every entry starts with; detail has its newlines replaced. */
static void add_header(struct text *t, const char *magic,
		       const char *key_name, const char *key,
		       const char *what_name, const char *what,
		       const char *detail)
{
	add(t, "%s %d\n%s %s\n%s %s\ndetail ", magic,
	    PF_OFFSET_CACHE_FORMAT, key_name, key, what_name, what);
	for (const char *c = detail; *c; c++)
		add(t, "%c", *c == '\n' ? '?' : *c);
	add(t, "\n");
}

static bool seal(struct text *t)
{
	add(t, "checksum %016" PRIx64 "\n", checksum(t->buf, t->used));
	return !t->overflow;
}

/* One line per field, named as in PF_LAYOUT_OFFSET_FIELDS, so an entry
 * says what it holds and a reordered list cannot be misread. */
static bool format_entry(const char *build_id, const struct pf_layout *l,
			 struct text *t)
{
	char python[32];
	snprintf(python, sizeof python, "%u.%u", l->major, l->minor);
	add_header(t, MAGIC, "build-id", build_id, "python", python,
		   l->source_detail);
#define ADD_OFFSET_(g, f)                                                     \
	if (l->g.f == PF_NO_OFFSET)                                          \
		add(t, #g "." #f " " NO_OFFSET_TEXT "\n");                   \
	else                                                                 \
		add(t, #g "." #f " %" PRId64 "\n", l->g.f);
	PF_LAYOUT_OFFSET_FIELDS(ADD_OFFSET_)
#undef ADD_OFFSET_
#define ADD_SHIFT_(g, f) add(t, #g "." #f " %u\n", l->g.f);
	PF_LAYOUT_SHIFT_FIELDS(ADD_SHIFT_)
#undef ADD_SHIFT_
	return seal(t);
}

/* The next line of [*p, end) without its newline; false at the end or on
 * a last line that lacks one (a torn write). */
static bool next_line(const char **p, const char *end, const char **line,
		      size_t *len)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	if (nl == NULL)
		return false;
	*line = *p;
	*len = (size_t)(nl - *p);
	*p = nl + 1;
	return true;
}

/* "NAME VALUE": the value of the line named name, NUL-terminated in out. */
static bool value_of(const char *line, size_t len, const char *name,
		     char *out, size_t out_size)
{
	size_t nlen = strlen(name);
	if (len <= nlen || memcmp(line, name, nlen) != 0 || line[nlen] != ' ' ||
	    len - nlen - 1 >= out_size)
		return false;
	memcpy(out, line + nlen + 1, len - nlen - 1);
	out[len - nlen - 1] = '\0';
	return true;
}

static bool parse_int(const char *s, int64_t min, int64_t max, int64_t *v)
{
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || *end != '\0' || n < min || n > max)
		return false;
	*v = n;
	return true;
}

/* Offsets into structs of a few KB at most: anything else is corrupt. */
#define MAX_OFFSET (1 << 20)

static bool parse_offset(const char *s, int64_t *v)
{
	if (strcmp(s, NO_OFFSET_TEXT) == 0) {
		*v = PF_NO_OFFSET;
		return true;
	}
	return parse_int(s, 0, MAX_OFFSET, v);
}

/* The entry's header checked (magic, format, checksum, the line key_name,
 * which must say key, and the line what_name, which must say what): *p is
 * then at the first field, *end
 * at the checksum line, and detail holds the detail line. */
static enum pf_cache_lookup open_entry(const char *data, size_t size,
				       const char *magic, const char *key_name,
				       const char *key, const char *what_name,
				       const char *what,
				       const char **p, const char **end,
				       char *detail, size_t detail_size,
				       char *why, size_t why_size)
{
	const char *line;
	size_t len;
	char value[300];
	int64_t format;

	*p = data;
	*end = data + size;
	/* The version first: another format may lay out even its checksum
	 * differently. */
	if (!next_line(p, *end, &line, &len) ||
	    !value_of(line, len, magic, value, sizeof value) ||
	    !parse_int(value, 0, INT32_MAX, &format))
		return set_why(why, why_size, "not a %s entry", magic),
		       PF_CACHE_INVALID;
	if (format != PF_OFFSET_CACHE_FORMAT)
		return set_why(why, why_size, "entry of format %" PRId64
			       ", this pyfault writes format %d",
			       format, PF_OFFSET_CACHE_FORMAT),
		       PF_CACHE_INVALID;

	/* The checksum line is the last one and covers all before it. */
	const char *sum_line = NULL;
	for (const char *q = data; q < *end;) {
		const char *l;
		size_t n;
		if (!next_line(&q, *end, &l, &n))
			break;
		if (q == *end)
			sum_line = l;
	}
	char want[32];
	if (sum_line == NULL ||
	    !value_of(sum_line, (size_t)(*end - sum_line) - 1, "checksum", want,
		      sizeof want))
		return set_why(why, why_size, "entry truncated"),
		       PF_CACHE_INVALID;
	char got[32];
	snprintf(got, sizeof got, "%016" PRIx64,
		 checksum(data, (size_t)(sum_line - data)));
	if (strcmp(want, got) != 0)
		return set_why(why, why_size, "entry corrupt (checksum %s, "
			       "content sums to %s)", want, got),
		       PF_CACHE_INVALID;
	*end = sum_line;

	if (!next_line(p, *end, &line, &len) ||
	    !value_of(line, len, key_name, value, sizeof value) ||
	    strcmp(value, key) != 0)
		return set_why(why, why_size, "entry for another %s", key_name),
		       PF_CACHE_INVALID;
	if (!next_line(p, *end, &line, &len) ||
	    !value_of(line, len, what_name, value, sizeof value) ||
	    strcmp(value, what) != 0)
		return set_why(why, why_size, "entry not for %s %s", what_name,
			       what),
		       PF_CACHE_INVALID;
	if (!next_line(p, *end, &line, &len) ||
	    !value_of(line, len, "detail", detail, detail_size))
		return set_why(why, why_size, "entry lacks its detail line"),
		       PF_CACHE_INVALID;
	return PF_CACHE_HIT;
}

static enum pf_cache_lookup parse_entry(const char *data, size_t size,
					const char *build_id,
					struct pf_layout *layout, char *why,
					size_t why_size)
{
	const char *p, *end, *line;
	size_t len;
	char value[64];
	struct pf_layout l = *layout;
	char python[32];
	snprintf(python, sizeof python, "%u.%u", l.major, l.minor);
	enum pf_cache_lookup r = open_entry(data, size, MAGIC, "build-id",
					    build_id, "python", python, &p,
					    &end,
					    l.source_detail,
					    sizeof l.source_detail, why,
					    why_size);
	if (r != PF_CACHE_HIT)
		return r;
	int64_t shift;
#define READ_OFFSET_(g, f)                                                    \
	if (!next_line(&p, end, &line, &len) ||                              \
	    !value_of(line, len, #g "." #f, value, sizeof value) ||          \
	    !parse_offset(value, &l.g.f))                                    \
		return set_why(why, why_size, "entry lacks " #g "." #f),     \
		       PF_CACHE_INVALID;
	PF_LAYOUT_OFFSET_FIELDS(READ_OFFSET_)
#undef READ_OFFSET_
#define READ_SHIFT_(g, f)                                                     \
	if (!next_line(&p, end, &line, &len) ||                              \
	    !value_of(line, len, #g "." #f, value, sizeof value) ||          \
	    !parse_int(value, 0, 31, &shift))                                \
		return set_why(why, why_size, "entry lacks " #g "." #f),     \
		       PF_CACHE_INVALID;                                     \
	l.g.f = (unsigned)shift;
	PF_LAYOUT_SHIFT_FIELDS(READ_SHIFT_)
#undef READ_SHIFT_
	if (p != end)
		return set_why(why, why_size, "entry has extra lines"),
		       PF_CACHE_INVALID;
	l.source = PF_SOURCE_DWARF;
	*layout = l;
	return PF_CACHE_HIT;
}

/* A member's line: "TYPE.MEMBER pointer|value OFFSET WIDTH STRUCT_SIZE",
 * or "... -" when the DWARF has no such member of that kind. */
static void format_member(struct text *t, const struct pf_dwarf_member *m)
{
	add(t, "%s.%s %s ", m->type_name, m->member,
	    m->pointer ? "pointer" : "value");
	if (m->offset == PF_NO_OFFSET)
		add(t, NO_OFFSET_TEXT "\n");
	else
		add(t, "%" PRId64 " %" PRId64 " %" PRId64 "\n", m->offset,
		    m->width, m->struct_size);
}

/* The line of m, as format_member writes it, with numbers that fit one
 * struct; m's outputs are set only when it is one.  why says which. */
static bool parse_member(const char *line, size_t len,
			 struct pf_dwarf_member *m, char *why, size_t why_size)
{
	char name[300], value[64];
	int n = snprintf(name, sizeof name, "%s.%s %s", m->type_name,
			 m->member, m->pointer ? "pointer" : "value");
	if (n < 0 || (size_t)n >= sizeof name ||
	    !value_of(line, len, name, value, sizeof value))
		return set_why(why, why_size, "entry lacks %s.%s",
			       m->type_name, m->member);
	if (strcmp(value, NO_OFFSET_TEXT) == 0) {
		m->offset = PF_NO_OFFSET;
		return true;
	}
	char off[24], width[24], size[24], extra;
	int64_t o, w, sz;
	if (sscanf(value, "%23s %23s %23s %c", off, width, size, &extra) != 3 ||
	    !parse_int(off, 0, MAX_OFFSET, &o) ||
	    !parse_int(width, 1, MAX_OFFSET, &w) ||
	    !parse_int(size, 1, MAX_OFFSET, &sz) || o > sz - w)
		return set_why(why, why_size,
			       "entry has %s.%s outside its struct",
			       m->type_name, m->member);
	m->offset = o;
	m->width = w;
	m->struct_size = sz;
	return true;
}

static bool format_members(const char *build_id, const char *unit_suffix,
			   const struct pf_dwarf_member *m, size_t n,
			   const char *where, struct text *t)
{
	add_header(t, MEMBERS_MAGIC, "build-id", build_id, "unit", unit_suffix,
		   where);
	for (size_t i = 0; i < n; i++)
		format_member(t, &m[i]);
	return seal(t);
}

static enum pf_cache_lookup parse_members(const char *data, size_t size,
					  const char *build_id,
					  const char *unit_suffix,
					  struct pf_dwarf_member *members,
					  size_t n, char *where,
					  size_t where_size, char *why,
					  size_t why_size)
{
	const char *p, *end, *line;
	size_t len;
	char detail[4200];
	enum pf_cache_lookup r = open_entry(data, size, MEMBERS_MAGIC,
					    "build-id", build_id, "unit",
					    unit_suffix, &p, &end, detail,
					    sizeof detail, why, why_size);
	if (r != PF_CACHE_HIT)
		return r;
	/* Filled aside: members stay as they were on a bad line. */
	struct pf_dwarf_member m[n > 0 ? n : 1];
	for (size_t i = 0; i < n; i++) {
		m[i] = members[i];
		if (!next_line(&p, end, &line, &len))
			return set_why(why, why_size, "entry lacks %s.%s",
				       m[i].type_name, m[i].member),
			       PF_CACHE_INVALID;
		if (!parse_member(line, len, &m[i], why, why_size))
			return PF_CACHE_INVALID;
	}
	if (p != end)
		return set_why(why, why_size, "entry has extra lines"),
		       PF_CACHE_INVALID;
	memcpy(members, m, n * sizeof *m);
	if (where != NULL)
		snprintf(where, where_size, "%s", detail);
	return PF_CACHE_HIT;
}

/* ------------------------------------------------------------------ files */

/* The bytes of entry BUILD_ID.SUFFIX in dir (malloc'ed in *data) when it
 * is a file of ours that no one else may write, of a plausible size. */
static enum pf_cache_lookup read_entry(const char *dir, const char *build_id,
				       const char *suffix, char **data,
				       size_t *size, char *why,
				       size_t why_size)
{
	char name[160];
	*data = NULL;
	if (!entry_name(build_id, suffix, name, sizeof name))
		return set_why(why, why_size, "no usable build-id"),
		       PF_CACHE_INVALID;
	int dfd = open_dir(dir, false, why, why_size);
	/* No directory there (yet): storing will say whether one can be. */
	if (dfd < 0)
		return errno == ENOENT || errno == ENOTDIR ? PF_CACHE_MISS
							   : PF_CACHE_INVALID;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int open_errno = errno;
	close(dfd);
	if (fd < 0) {
		if (open_errno == ENOENT)
			return PF_CACHE_MISS;
		return set_why(why, why_size, "cannot open %s/%s: %s", dir,
			       name, strerror(open_errno)),
		       PF_CACHE_INVALID;
	}
	struct stat st;
	enum pf_cache_lookup result = PF_CACHE_INVALID;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !owned_by_us(&st) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		set_why(why, why_size,
			"%s/%s is not a file of uid %u writable by it alone",
			dir, name, (unsigned)geteuid());
	} else if (st.st_size <= 0 || st.st_size > MAX_ENTRY ||
		   (*data = malloc((size_t)st.st_size)) == NULL ||
		   read(fd, *data, (size_t)st.st_size) != st.st_size) {
		set_why(why, why_size, "cannot read %s/%s", dir, name);
	} else {
		*size = (size_t)st.st_size;
		result = PF_CACHE_HIT;
	}
	if (result != PF_CACHE_HIT) {
		free(*data);
		*data = NULL;
	}
	close(fd);
	return result;
}

enum pf_cache_lookup pf_offset_cache_load(const char *dir,
					  const char *build_id,
					  struct pf_layout *layout, char *why,
					  size_t why_size)
{
	char *data;
	size_t size;
	enum pf_cache_lookup r = read_entry(dir, build_id, "offsets", &data,
					    &size, why, why_size);
	if (r == PF_CACHE_HIT)
		r = parse_entry(data, size, build_id, layout, why, why_size);
	free(data);
	return r;
}

enum pf_cache_lookup pf_member_cache_load(const char *dir,
					  const char *build_id,
					  const char *kind,
					  const char *unit_suffix,
					  struct pf_dwarf_member *members,
					  size_t n, char *where,
					  size_t where_size, char *why,
					  size_t why_size)
{
	char *data;
	size_t size;
	enum pf_cache_lookup r =
		read_entry(dir, build_id, kind, &data, &size, why, why_size);
	if (r == PF_CACHE_HIT)
		r = parse_members(data, size, build_id, unit_suffix, members,
				  n, where, where_size, why, why_size);
	free(data);
	return r;
}

static bool write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

/* Writes data as entry BUILD_ID.SUFFIX in dir, creating dir. */
static bool write_entry(const char *dir, const char *build_id,
			const char *suffix, const char *data, size_t len,
			char *why, size_t why_size)
{
	char name[160], tmp[192];
	if (!entry_name(build_id, suffix, name, sizeof name))
		return set_why(why, why_size, "no usable build-id");
	int dfd = open_dir(dir, true, why, why_size);
	if (dfd < 0)
		return false;
	/* Written aside and renamed over the entry: a reader sees the old
	 * entry or the new one, never half of one.  No fsync: an entry torn
	 * by a power cut fails its checksum and is simply derived again. */
	snprintf(tmp, sizeof tmp, ".%s.%d.tmp", name, (int)getpid());
	unlinkat(dfd, tmp, 0);
	int fd = openat(dfd, tmp,
			O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			0600);
	bool ok = fd >= 0 && write_all(fd, data, len);
	int e = errno;
	if (fd >= 0 && close(fd) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (ok && renameat(dfd, tmp, dfd, name) != 0) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		if (fd >= 0)
			unlinkat(dfd, tmp, 0);
		set_why(why, why_size, "cannot write %s/%s: %s", dir, name,
			strerror(e));
	}
	close(dfd);
	return ok;
}

bool pf_offset_cache_store(const char *dir, const char *build_id,
			   const struct pf_layout *layout, char *why,
			   size_t why_size)
{
	char buf[MAX_ENTRY];
	struct text t = {buf, 0, sizeof buf, false};
	if (!format_entry(build_id, layout, &t))
		return set_why(why, why_size, "entry too large");
	return write_entry(dir, build_id, "offsets", buf, t.used, why,
			   why_size);
}

bool pf_member_cache_store(const char *dir, const char *build_id,
			   const char *kind, const char *unit_suffix,
			   const struct pf_dwarf_member *members, size_t n,
			   const char *where, char *why, size_t why_size)
{
	char buf[MAX_ENTRY];
	struct text t = {buf, 0, sizeof buf, false};
	if (!format_members(build_id, unit_suffix, members, n, where, &t))
		return set_why(why, why_size, "entry too large");
	return write_entry(dir, build_id, kind, buf, t.used, why, why_size);
}

enum pf_cache_lookup pf_elf_facts_cache_load(const char *dir, const char *key,
					     const char *stamp, char **facts,
					     size_t *len, char *why,
					     size_t why_size)
{
	char *data;
	size_t size;
	const char *p, *end;
	*facts = NULL;
	enum pf_cache_lookup r =
		read_entry(dir, key, "elf", &data, &size, why, why_size);
	if (r == PF_CACHE_HIT) {
		char path[4200];
		r = open_entry(data, size, ELF_FACTS_MAGIC, "file", key,
			       "stamp", stamp, &p, &end, path, sizeof path,
			       why, why_size);
	}
	if (r == PF_CACHE_HIT) {
		/* The facts move to the start of the entry's buffer. */
		*len = (size_t)(end - p);
		memmove(data, p, *len);
		*facts = data;
		return r;
	}
	free(data);
	return r;
}

bool pf_elf_facts_cache_store(const char *dir, const char *key,
			      const char *stamp, const char *path,
			      const char *facts, size_t len, char *why,
			      size_t why_size)
{
	char buf[MAX_ENTRY];
	struct text t = {buf, 0, sizeof buf, false};
	add_header(&t, ELF_FACTS_MAGIC, "file", key, "stamp", stamp, path);
	add(&t, "%.*s", (int)len, facts);
	if (!seal(&t))
		return set_why(why, why_size, "entry too large");
	return write_entry(dir, key, "elf", buf, t.used, why, why_size);
}
