#include "process/target_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static bool same_inode(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool pf_target_other_root(pid_t pid)
{
	char ns[64], root[64];
	snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", (int)pid);
	snprintf(root, sizeof root, "/proc/%d/root", (int)pid);
	return !same_inode(ns, "/proc/self/ns/mnt") || !same_inode(root, "/");
}

enum file_match { NO_FILE, OTHER_FILE, SAME_INODE, SAME_FILE };

static enum file_match match_mapping(const char *path,
				     const struct pf_mapping *m)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return NO_FILE;
	if ((uint64_t)st.st_ino != m->inode)
		return OTHER_FILE;
	return major(st.st_dev) == m->dev_major &&
		       minor(st.st_dev) == m->dev_minor
		       ? SAME_FILE
		       : SAME_INODE;
}

enum pf_status pf_target_file_find(struct pf_target_file *f, pid_t pid,
				   bool other_root, const struct pf_mapping *m,
				   struct pf_error *err)
{
	memset(f, 0, sizeof *f);
	f->other_root = other_root;
	if (f->other_root)
		snprintf(f->read_path, sizeof f->read_path, "/proc/%d/root%s",
			 (int)pid, m->path);
	else
		snprintf(f->read_path, sizeof f->read_path, "%s", m->path);
	enum file_match match = match_mapping(f->read_path, m);
	if (match == SAME_FILE)
		return PF_OK;

	/* Deleted, or another file at its path now (an upgrade renamed a new
	 * one over it, a mount covers it): the mapping still holds the file
	 * the target runs, and map_files opens it, given CAP_SYS_ADMIN or
	 * CAP_CHECKPOINT_RESTORE. */
	char copy[96];
	snprintf(copy, sizeof copy, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64,
		 (int)pid, m->start, m->end);
	int fd = open(copy, O_RDONLY | O_CLOEXEC);
	int copy_errno = errno;
	if (fd >= 0) {
		close(fd);
		snprintf(f->read_path, sizeof f->read_path, "%s", copy);
		f->mapped_copy = true;
		return PF_OK;
	}
	/* Only the device differs: some file systems (btrfs subvolumes,
	 * overlayfs before Linux 6.8) show another one in the maps than
	 * stat() does for the same file. */
	if (match == SAME_INODE && !m->deleted)
		return PF_OK;
	/* Without the capability the kernel answers EPERM, or ENOENT (the
	 * lookup fails) in some cases; a process that has gone is told
	 * apart by the caller. */
	bool denied = copy_errno == EPERM || copy_errno == EACCES ||
		      copy_errno == ENOENT;
	return pf_fail(err, PF_ERR_FILE_GONE,
		       "process %d runs %s, which was %s since it started, and "
		       "its mapped copy %s %s%s",
		       (int)pid, m->path,
		       m->deleted || match == NO_FILE ? "deleted"
						      : "replaced on disk",
		       copy, denied ? "may not be opened" : "cannot be opened: ",
		       denied ? "" : strerror(copy_errno));
}

const char *pf_target_file_note(const struct pf_target_file *f, char *buf,
				size_t size)
{
	if (f->mapped_copy)
		snprintf(buf, size,
			 " (deleted or replaced on disk: read from %s)",
			 f->read_path);
	else if (f->other_root)
		snprintf(buf, size,
			 " (in another mount namespace or root: read as %s)",
			 f->read_path);
	else
		snprintf(buf, size, "%s", "");
	return buf;
}
