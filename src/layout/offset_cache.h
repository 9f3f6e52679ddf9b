/* Structure offsets derived from DWARF, kept per build-id under the user's
 * cache directory, so that the next dump of the same interpreter does not
 * parse its DWARF again: the interpreter's layout, and the members of the
 * structs private to one source file that --tasks reads (keyed by the
 * build-id of the object whose DWARF holds them: _asyncio's TaskObj and
 * FutureIter, the interpreter's asend, athrow and coroutine_wrapper
 * objects), and what was learnt of an interpreter's ELF file, kept under
 * its identity (elf_symbols.h).  One small text
 * file per build and kind, written whole to a temporary file and renamed
 * into place, with a format version and a checksum: an entry that is torn,
 * corrupt or from another pyfault format is ignored and written again. */
#ifndef PYFAULT_OFFSET_CACHE_H
#define PYFAULT_OFFSET_CACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "layout/layout_dwarf.h"
#include "layout/py_layout.h"

/* Bump when the entries' lines or their meaning change, as when
 * elf_symbols.c comes to answer a question it keeps differently. */
#define PF_OFFSET_CACHE_FORMAT 2

enum pf_cache_lookup {
	PF_CACHE_HIT,
	PF_CACHE_MISS,     /* no entry yet */
	PF_CACHE_INVALID,  /* an entry or directory that cannot be trusted */
};

/* The cache directory of the effective user: $XDG_CACHE_HOME/pyfault, else
 * HOME/.cache/pyfault.  HOME is $HOME when that directory belongs to the
 * effective user, else the home of the password database: a root run under
 * sudo keeps the invoking user's $HOME, where root's files would then be in
 * that user's way.  Creates nothing; false with a reason in why when there
 * is no such directory to name. */
bool pf_offset_cache_dir(char *dir, size_t size, char *why, size_t why_size);

/* Fills layout's offsets, bit positions and source_detail from the entry
 * for build_id in dir when it is intact, of this format and for
 * layout->major.minor; the other fields are left as they were.  why says
 * what was wrong on PF_CACHE_INVALID. */
enum pf_cache_lookup pf_offset_cache_load(const char *dir,
					  const char *build_id,
					  struct pf_layout *layout, char *why,
					  size_t why_size);

/* Writes the entry for build_id, creating dir (0700) and, when missing, its
 * parent.  The directory must belong to the effective user and be writable
 * by no one else; entries are 0600; no symbolic link is followed there.
 * false with a reason in why. */
bool pf_offset_cache_store(const char *dir, const char *build_id,
			   const struct pf_layout *layout, char *why,
			   size_t why_size);

/* The members that pf_dwarf_unit_members read for unit_suffix from the
 * DWARF of the object with build_id, kept as kind (a lowercase word, one
 * per set of members a caller reads).  Fills each member's offset, width
 * and struct_size, and where (when not NULL) with the file the DWARF came
 * from, only when the entry holds exactly these members (type, name,
 * pointer or not, in this order) for this unit, each inside its struct;
 * the callers check them further as they check DWARF's. */
enum pf_cache_lookup pf_member_cache_load(const char *dir,
					  const char *build_id,
					  const char *kind,
					  const char *unit_suffix,
					  struct pf_dwarf_member *members,
					  size_t n, char *where,
					  size_t where_size, char *why,
					  size_t why_size);

/* Writes that entry, as pf_offset_cache_store does. */
bool pf_member_cache_store(const char *dir, const char *build_id,
			   const char *kind, const char *unit_suffix,
			   const struct pf_dwarf_member *members, size_t n,
			   const char *where, char *why, size_t why_size);

/* The facts (elf_facts.h) kept of the ELF file whose identity is key and
 * stamp (pf_elf_identity): on a hit, *facts[*len] (malloc'ed, the
 * caller's to free).  An entry of that key but another stamp, a file
 * replaced or changed since, is PF_CACHE_INVALID. */
enum pf_cache_lookup pf_elf_facts_cache_load(const char *dir, const char *key,
					     const char *stamp, char **facts,
					     size_t *len, char *why,
					     size_t why_size);

/* Writes that entry, naming path in it for a reader, as
 * pf_offset_cache_store does. */
bool pf_elf_facts_cache_store(const char *dir, const char *key,
			      const char *stamp, const char *path,
			      const char *facts, size_t len, char *why,
			      size_t why_size);

#endif
