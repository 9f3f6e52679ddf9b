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

static bool entry_name(const char *build_id, char *name, size_t size)
{
	size_t len = strlen(build_id);
	if (len == 0 || strspn(build_id, "0123456789abcdef") != len)
		return false;
	int n = snprintf(name, size, "%s.offsets", build_id);
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

/* One line per field, named as in PF_LAYOUT_OFFSET_FIELDS, so an entry
 * says what it holds and a reordered list cannot be misread. */
static bool format_entry(const char *build_id, const struct pf_layout *l,
			 struct text *t)
{
	char detail[sizeof l->source_detail];
	snprintf(detail, sizeof detail, "%s", l->source_detail);
	for (char *c = detail; *c; c++)
		if (*c == '\n')
			*c = '?';
	add(t, "%s %d\nbuild-id %s\npython %u.%u\ndetail %s\n", MAGIC,
	    PF_OFFSET_CACHE_FORMAT, build_id, l->major, l->minor, detail);
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
	add(t, "checksum %016" PRIx64 "\n", checksum(t->buf, t->used));
	return !t->overflow;
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

static enum pf_cache_lookup parse_entry(const char *data, size_t size,
					const char *build_id,
					struct pf_layout *layout, char *why,
					size_t why_size)
{
	const char *p = data, *end = data + size, *line;
	size_t len;
	char value[sizeof layout->source_detail + 1];
	int64_t format;

	/* The version first: another format may lay out even its checksum
	 * differently. */
	if (!next_line(&p, end, &line, &len) ||
	    !value_of(line, len, MAGIC, value, sizeof value) ||
	    !parse_int(value, 0, INT32_MAX, &format))
		return set_why(why, why_size, "not a pyfault offsets entry"),
		       PF_CACHE_INVALID;
	if (format != PF_OFFSET_CACHE_FORMAT)
		return set_why(why, why_size, "entry of format %" PRId64
			       ", this pyfault writes format %d",
			       format, PF_OFFSET_CACHE_FORMAT),
		       PF_CACHE_INVALID;

	/* The checksum line is the last one and covers all before it. */
	const char *sum_line = NULL;
	for (const char *q = data; q < end;) {
		const char *l;
		size_t n;
		if (!next_line(&q, end, &l, &n))
			break;
		if (q == end)
			sum_line = l;
	}
	char want[32];
	if (sum_line == NULL ||
	    !value_of(sum_line, (size_t)(end - sum_line) - 1, "checksum", want,
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
	end = sum_line;

	struct pf_layout l = *layout;
	char python[32];
	snprintf(python, sizeof python, "%u.%u", l.major, l.minor);
	if (!next_line(&p, end, &line, &len) ||
	    !value_of(line, len, "build-id", value, sizeof value) ||
	    strcmp(value, build_id) != 0)
		return set_why(why, why_size, "entry for another build-id"),
		       PF_CACHE_INVALID;
	if (!next_line(&p, end, &line, &len) ||
	    !value_of(line, len, "python", value, sizeof value) ||
	    strcmp(value, python) != 0)
		return set_why(why, why_size, "entry not for Python %s", python),
		       PF_CACHE_INVALID;
	if (!next_line(&p, end, &line, &len) ||
	    !value_of(line, len, "detail", l.source_detail,
		      sizeof l.source_detail))
		return set_why(why, why_size, "entry lacks its detail line"),
		       PF_CACHE_INVALID;
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

/* ------------------------------------------------------------------ files */

enum pf_cache_lookup pf_offset_cache_load(const char *dir,
					  const char *build_id,
					  struct pf_layout *layout, char *why,
					  size_t why_size)
{
	char name[160];
	if (!entry_name(build_id, name, sizeof name))
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
	char *data = NULL;
	enum pf_cache_lookup result = PF_CACHE_INVALID;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || !owned_by_us(&st) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		set_why(why, why_size,
			"%s/%s is not a file of uid %u writable by it alone",
			dir, name, (unsigned)geteuid());
	} else if (st.st_size <= 0 || st.st_size > MAX_ENTRY ||
		   (data = malloc((size_t)st.st_size)) == NULL ||
		   read(fd, data, (size_t)st.st_size) != st.st_size) {
		set_why(why, why_size, "cannot read %s/%s", dir, name);
	} else {
		result = parse_entry(data, (size_t)st.st_size, build_id,
				     layout, why, why_size);
	}
	free(data);
	close(fd);
	return result;
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

bool pf_offset_cache_store(const char *dir, const char *build_id,
			   const struct pf_layout *layout, char *why,
			   size_t why_size)
{
	char name[160], tmp[192];
	char buf[MAX_ENTRY];
	struct text t = {buf, 0, sizeof buf, false};
	if (!entry_name(build_id, name, sizeof name))
		return set_why(why, why_size, "no usable build-id");
	if (!format_entry(build_id, layout, &t))
		return set_why(why, why_size, "entry too large");
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
	bool ok = fd >= 0 && write_all(fd, buf, t.used);
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
