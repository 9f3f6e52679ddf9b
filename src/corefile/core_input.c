#include "corefile/core_input.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4frame.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#define CHUNK (1u << 20)
#define BLOCK 4096u

/* The temporary copy: all-zero blocks are skipped, so that a core's
 * unused pages stay holes as in the kernel's file. */
struct sink {
	int fd;
	uint64_t size;
	bool failed;
};

static bool all_zero(const uint8_t *p, size_t n)
{
	return n > 0 && p[0] == 0 && memcmp(p, p + 1, n - 1) == 0;
}

static void sink_write(struct sink *s, const uint8_t *p, size_t n)
{
	while (n > 0 && !s->failed) {
		/* Blocks aligned on the file's offsets. */
		size_t take = BLOCK - (size_t)(s->size % BLOCK);
		if (take > n)
			take = n;
		if (!(take == BLOCK && all_zero(p, take))) {
			size_t done = 0;
			while (done < take && !s->failed) {
				ssize_t w = pwrite(s->fd, p + done, take - done,
						   (off_t)(s->size + done));
				if (w < 0 && errno == EINTR)
					continue;
				s->failed = w <= 0;
				done += w > 0 ? (size_t)w : 0;
			}
		}
		s->size += take;
		p += take;
		n -= take;
	}
}

/* A read of the input; 0 at its end, -1 on error. */
static ssize_t read_some(int fd, uint8_t *buf, size_t size)
{
	ssize_t n;
	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Each decoder copies the stream after the bytes already read (head) and
 * returns NULL, or why it stopped early. */
typedef const char *(*decoder)(int fd, const uint8_t *head, size_t nhead,
			       struct sink *s, uint8_t *in, uint8_t *out);

static const char *copy_plain(int fd, const uint8_t *head, size_t nhead,
			      struct sink *s, uint8_t *in, uint8_t *out)
{
	(void)out;
	sink_write(s, head, nhead);
	ssize_t n;
	while ((n = read_some(fd, in, CHUNK)) > 0)
		sink_write(s, in, (size_t)n);
	return n < 0 ? strerror(errno) : NULL;
}

static const char *decode_zstd(int fd, const uint8_t *head, size_t nhead,
			       struct sink *s, uint8_t *in, uint8_t *out)
{
	ZSTD_DStream *z = ZSTD_createDStream();
	if (z == NULL)
		return "out of memory";
	const char *why = NULL;
	size_t last = 1;
	memcpy(in, head, nhead);
	ssize_t n = (ssize_t)nhead;
	for (; n > 0 && why == NULL; n = read_some(fd, in, CHUNK)) {
		ZSTD_inBuffer ib = {in, (size_t)n, 0};
		while (ib.pos < ib.size && why == NULL) {
			ZSTD_outBuffer ob = {out, CHUNK, 0};
			last = ZSTD_decompressStream(z, &ob, &ib);
			if (ZSTD_isError(last))
				why = ZSTD_getErrorName(last);
			sink_write(s, out, ob.pos);
		}
	}
	if (why == NULL && n < 0)
		why = strerror(errno);
	if (why == NULL && last != 0)
		why = "the compressed stream ends early";
	ZSTD_freeDStream(z);
	return why;
}

static const char *decode_xz(int fd, const uint8_t *head, size_t nhead,
			     struct sink *s, uint8_t *in, uint8_t *out)
{
	lzma_stream z = LZMA_STREAM_INIT;
	if (lzma_stream_decoder(&z, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
		return "out of memory";
	const char *why = NULL;
	memcpy(in, head, nhead);
	z.next_in = in;
	z.avail_in = nhead;
	lzma_ret rc = LZMA_OK;
	while (rc == LZMA_OK && why == NULL) {
		lzma_action action = LZMA_RUN;
		if (z.avail_in == 0) {
			ssize_t n = read_some(fd, in, CHUNK);
			if (n < 0)
				why = strerror(errno);
			z.next_in = in;
			z.avail_in = n > 0 ? (size_t)n : 0;
			action = n > 0 ? LZMA_RUN : LZMA_FINISH;
		}
		z.next_out = out;
		z.avail_out = CHUNK;
		rc = lzma_code(&z, action);
		sink_write(s, out, CHUNK - z.avail_out);
	}
	if (why == NULL && rc != LZMA_STREAM_END)
		why = rc == LZMA_BUF_ERROR ? "the compressed stream ends early"
					   : "the compressed stream is corrupt";
	lzma_end(&z);
	return why;
}

static const char *decode_lz4(int fd, const uint8_t *head, size_t nhead,
			      struct sink *s, uint8_t *in, uint8_t *out)
{
	LZ4F_dctx *z;
	if (LZ4F_isError(LZ4F_createDecompressionContext(&z, LZ4F_VERSION)))
		return "out of memory";
	const char *why = NULL;
	size_t hint = 1;
	memcpy(in, head, nhead);
	ssize_t n = (ssize_t)nhead;
	for (; n > 0 && why == NULL; n = read_some(fd, in, CHUNK)) {
		size_t pos = 0;
		while (pos < (size_t)n && why == NULL) {
			size_t src = (size_t)n - pos, dst = CHUNK;
			hint = LZ4F_decompress(z, out, &dst, in + pos, &src,
					       NULL);
			if (LZ4F_isError(hint))
				why = LZ4F_getErrorName(hint);
			sink_write(s, out, dst);
			pos += src;
		}
	}
	if (why == NULL && n < 0)
		why = strerror(errno);
	if (why == NULL && hint != 0)
		why = "the compressed stream ends early";
	LZ4F_freeDecompressionContext(z);
	return why;
}

static const struct {
	const char *name;
	uint8_t magic[6];
	size_t len;
	decoder decode;
} formats[] = {
	{"zstd", {0x28, 0xb5, 0x2f, 0xfd}, 4, decode_zstd},
	{"xz", {0xfd, '7', 'z', 'X', 'Z', 0x00}, 6, decode_xz},
	{"lz4", {0x04, 0x22, 0x4d, 0x18}, 4, decode_lz4},
};

/* An anonymous file for the copy: in $TMPDIR (or /tmp), else memory. */
static int anonymous_file(void)
{
	const char *dir = getenv("TMPDIR");
	int fd = open(dir && *dir ? dir : "/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC,
		      0600);
	return fd >= 0 ? fd : memfd_create("pyfault-core", MFD_CLOEXEC);
}

enum pf_status pf_core_input_open(struct pf_core_input *in, const char *path,
				  struct pf_error *err)
{
	memset(in, 0, sizeof *in);
	in->fd = -1;
	bool from_stdin = strcmp(path, "-") == 0;
	snprintf(in->path, sizeof in->path, "%s",
		 from_stdin ? "standard input" : path);
	int fd = from_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return pf_fail(err, errno == ENOENT ? PF_ERR_USAGE
						    : PF_ERR_PERMISSION,
			       "cannot open %s: %s", path, strerror(errno));
	uint8_t head[6];
	size_t nhead = 0;
	ssize_t n = 1;
	while (nhead < sizeof head &&
	       (n = read_some(fd, head + nhead, sizeof head - nhead)) > 0)
		nhead += (size_t)n;
	decoder decode = from_stdin ? copy_plain : NULL;
	for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
		if (nhead >= formats[i].len &&
		    memcmp(head, formats[i].magic, formats[i].len) == 0) {
			decode = formats[i].decode;
			in->format = formats[i].name;
		}
	if (decode == NULL) {
		/* A file as it is: read in place. */
		close(fd);
		snprintf(in->read_path, sizeof in->read_path, "%s", path);
		return PF_OK;
	}
	struct sink s = {.fd = anonymous_file()};
	uint8_t *bufs = malloc(2 * (size_t)CHUNK);
	const char *why = "out of memory";
	if (s.fd >= 0 && bufs)
		why = decode(fd, head, nhead, &s, bufs, bufs + CHUNK);
	free(bufs);
	if (!from_stdin)
		close(fd);
	if (s.fd < 0)
		return pf_fail(err, PF_ERR_INTERNAL,
			       "cannot make a temporary file for %s: %s",
			       in->path, strerror(errno));
	in->fd = s.fd;
	snprintf(in->read_path, sizeof in->read_path, "/proc/self/fd/%d",
		 s.fd);
	if (s.failed || ftruncate(s.fd, (off_t)s.size) != 0)
		return pf_fail(err, PF_ERR_INTERNAL,
			       "cannot write the temporary copy of %s: %s",
			       in->path, strerror(errno));
	if (why)
		snprintf(in->warning, sizeof in->warning,
			 "%s (%s): %s after %llu bytes", in->path,
			 in->format ? in->format : "uncompressed", why,
			 (unsigned long long)s.size);
	return PF_OK;
}

void pf_core_input_close(struct pf_core_input *in)
{
	if (in->fd >= 0)
		close(in->fd);
	in->fd = -1;
}
