/* trust.h - may root run or read a path: owners and modes of every component */
#ifndef AVBATCH_TRUST_H
#define AVBATCH_TRUST_H

/*
 * When running as root, check that nobody but root can change what path
 * names: the file at the end must be a regular file owned by root and not
 * writable by group or others; every directory it is looked up through,
 * every symbolic link followed on the way (resolved here, one component at
 * a time) and the directories their targets pass through must be owned by
 * root and not writable by group or others, except that a sticky directory
 * writable by others (/tmp) is accepted above an entry root owns (the
 * sticky bit keeps others from renaming or removing it) that is a
 * directory or has no other hard link (anyone may link root's files there
 * when fs.protected_hardlinks is off).  Relative paths
 * start at the working directory, whose own path is checked too.  Returns
 * 0, -EPERM with *cause naming the offending path, or another -errno (the
 * path cannot be resolved) with *cause.  For other users every path passes,
 * as before: they cannot run anything they could not run anyway.
 */
int trust_check(const char *path, char **cause);

#endif
