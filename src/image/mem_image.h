/* Recorded process images: the memory pyfault read from a stopped target,
 * plus what the walk needs that does not come through struct pf_mem (where
 * _PyRuntime is, the version, the layout used) and the dump printed at
 * recording time.  They let the walker, the formatter and the fuzzers run
 * without a live process.
 *
 * File format, version 1 (every integer little-endian):
 *   "PFIMAGE\0"  8-byte magic
 *   u32          format version (1)
 *   then sections until the end of the file, each
 *     char[4]    tag
 *     u32        payload length
 *     payload
 *   "VALS"  records of  u8 key length, key, i64 value:
 *             pid, runtime, version.major, version.minor, version.micro,
 *             micro_known, debug_build, module_type, frozenset_type,
 *             coro_type, gen_type; when the tasks were walked,
 *             asyncio.model (enum pf_asyncio_model; absent in images of
 *             3.14 recorded before 3.11-3.13 ones were: the task lists)
 *             and asyncio.GROUP.FIELD for each word of the _AsyncioDebug
 *             section (3.14+) or of TaskObj (asyncio.ctask.FIELD,
 *             3.11-3.13: size 0 when there is no _asyncio), and
 *             layout.GROUP.FIELD for every field of PF_LAYOUT_OFFSET_FIELDS
 *             and PF_LAYOUT_SHIFT_FIELDS, layout.NAME for the scalars of
 *             PF_IMAGE_LAYOUT_SCALARS.  An absent offset is PF_NO_OFFSET; an
 *             absent scalar keeps pf_layout_init_version's value.
 *   "MEMR"  records of  u64 address, u32 length, bytes: what was read, in
 *             ranges that do not overlap
 *   "NAME"  records of  u64 thread id, u8 length, bytes: each thread's
 *             name as the system gave it (3.14+ print them)
 *   "TEXT"  the dump pyfault printed from this memory when it recorded it
 *   "NOTE"  free text: which interpreter and program were recorded
 * Unknown sections and keys are skipped, so that newer files stay readable
 * where they only add. */
#ifndef PYFAULT_MEM_IMAGE_H
#define PYFAULT_MEM_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/errors.h"
#include "layout/asyncio_layout.h"
#include "layout/await_layout.h"
#include "layout/py_layout.h"
#include "layout/py_target.h"
#include "process/remote_mem.h"
#include "base/snapshot.h"

#define PF_IMAGE_MAGIC "PFIMAGE"
#define PF_IMAGE_VERSION 1
/* Larger files are refused as corrupt: a dump reads a few hundred KiB. */
#define PF_IMAGE_MAX_SIZE (64u << 20)

/* The members of struct pf_layout that are neither offsets nor shifts, as
 * X(key, member). */
#define PF_IMAGE_LAYOUT_SCALARS(X)                                           \
	X(frame_model, frame_model)                                          \
	X(line_table, line_table)                                            \
	X(frame.lasti_scale, frame.lasti_scale)                              \
	X(frame.use_f_lineno, frame.use_f_lineno)                            \
	X(owner_cstack, owner_cstack)                                        \
	X(skip_cstack_on_top, skip_cstack_on_top)                            \
	X(frame_limit_marker, frame_limit_marker)                            \
	X(no_frame_indented, no_frame_indented)                              \
	X(gc_line, gc_line)                                                  \
	X(fpe_hyphenated, fpe_hyphenated)                                    \
	X(extension_modules_trailer, extension_modules_trailer)              \
	X(dict_indices, dict_indices)                                        \
	X(dict_keys_general, dict_keys_general)                              \
	X(dict_split, dict_split)                                            \
	X(source, source)                                                    \
	X(free_threaded, free_threaded)                                      \
	X(code_tag_mask, code_tag_mask)                                      \
	X(shim_frames_counted, shim_frames_counted)                          \
	X(thread_names, thread_names)                                        \
	X(native_by_default, native_by_default)                              \
	X(fatal_current_without_gil, fatal_current_without_gil)              \
	X(ft.tlbc_index, ft.tlbc_index)                                      \
	X(ft.co_tlbc, ft.co_tlbc)                                            \
	X(ft.gil_enabled, ft.gil_enabled)                                    \
	X(coro.gi_iframe, coro.gi_iframe)                                    \
	X(coro.gi_frame_state, coro.gi_frame_state)                          \
	X(coro.stackpointer, coro.stackpointer)                              \
	X(coro.llist_next, coro.llist_next)                                  \
	X(coro.tp_name, coro.tp_name)                                        \
	X(coro.lv_tag, coro.lv_tag)                                          \
	X(coro.ob_digit, coro.ob_digit)                                      \
	X(frame_suspended_yield_from, frame_suspended_yield_from)            \
	X(frame_suspended, frame_suspended)                                  \
	X(resume_opcode, resume_opcode)                                      \
	X(resume_opcode_alt, resume_opcode_alt)

struct pf_image_range {
	uint64_t addr;
	uint32_t len;
	const uint8_t *bytes;
};

struct pf_image {
	int pid;
	uint64_t runtime;               /* address of _PyRuntime */
	unsigned major, minor, micro;
	bool micro_known, debug_build;
	uint64_t module_type, frozenset_type;
	uint64_t coro_type, gen_type;
	struct pf_layout layout;
	/* The asyncio layout the task walk used (--tasks): _AsyncioDebug's
	 * offsets, or TaskObj's and the registry model; the text then holds
	 * the task section. */
	bool has_asyncio;
	struct pf_asyncio_layout asyncio;
	/* Where asend, athrow and FutureIter objects keep what they run
	 * (PF_NO_OFFSET in images recorded without them). */
	struct pf_await_layout awaits;
	size_t nranges;
	struct pf_image_range *ranges;  /* sorted by address */
	const uint8_t *names;           /* the "NAME" payload */
	size_t names_len;
	const char *text;               /* not NUL-terminated */
	size_t text_len;
	const char *note;
	size_t note_len;
	uint8_t *owned;                 /* the bytes ranges and text point into */
};

/* Parses an image held in data (which must outlive img: nothing is
 * copied).  An image whose layout the walker could not read safely (an
 * offset outside the struct it is read from, an unknown model) is refused
 * with PF_ERR_BAD_MEMORY, an unknown version with PF_ERR_UNSUPPORTED. */
enum pf_status pf_image_parse(struct pf_image *img, const uint8_t *data,
			      size_t len, struct pf_error *err);

/* Reads and parses the file at path; img owns its bytes. */
enum pf_status pf_image_load(struct pf_image *img, const char *path,
			     struct pf_error *err);

void pf_image_free(struct pf_image *img);

/* Copies the recorded name of each of snap's threads into it. */
void pf_image_thread_names(const struct pf_image *img,
			   struct pf_snapshot *snap);

/* Writes img (ranges sorted, not overlapping) in the format above. */
bool pf_image_write(FILE *out, const struct pf_image *img);

/* A backend that serves img's ranges: a read not wholly inside recorded
 * bytes fails, as a read of an unmapped address does live. */
void pf_mem_open_image(struct pf_mem *mem, const struct pf_image *img);

/* The target as recorded, for pf_read_extension_modules: its layout is
 * the one used at recording time, already completed, so nothing more is
 * looked up. */
void pf_image_target(const struct pf_image *img, struct pf_target *target);

#endif
