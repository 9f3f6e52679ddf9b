/* Reading a file the target has mapped, as the target sees it: under its
 * own root when it lives in another mount namespace or chroot, and through
 * /proc/PID/map_files when the file was deleted or replaced on disk since
 * it was mapped. */
#ifndef PYFAULT_TARGET_FILE_H
#define PYFAULT_TARGET_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/errors.h"
#include "process/proc_maps.h"

struct pf_target_file {
	/* Where pyfault opens it: the target's path, that path under
	 * /proc/PID/root, or /proc/PID/map_files/START-END. */
	char read_path[4200];
	bool other_root;     /* the target's / is not ours */
	bool mapped_copy;    /* read through map_files */
};

/* Whether process pid lives in another mount namespace or under another
 * root than pyfault (a container, a chroot): then its files are read
 * under /proc/PID/root, which resolves paths in its namespace, from its
 * root. */
bool pf_target_other_root(pid_t pid);

/* Finds the file of mapping m of process pid, checked to be the very file
 * mapped (its device and inode); other_root is pf_target_other_root(pid),
 * asked once for all its files.  Fails with PF_ERR_FILE_GONE when it was
 * deleted or replaced and its mapped copy cannot be opened. */
enum pf_status pf_target_file_find(struct pf_target_file *f, pid_t pid,
				   bool other_root, const struct pf_mapping *m,
				   struct pf_error *err);

/* For -v: how the file was read, when not under its own name: " (...)",
 * or "". */
const char *pf_target_file_note(const struct pf_target_file *f, char *buf,
				size_t size);

#endif
