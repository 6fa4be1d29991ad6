/* jobdir.h - a job's directory: created locked, alive while locked */
#ifndef AVBATCH_JOBDIR_H
#define AVBATCH_JOBDIR_H

#include <stdbool.h>

/*
 * Each job directory under STATE/jobs carries its liveness proof: the
 * job's process holds an exclusive flock(2) on the directory from the
 * moment the directory appears under its name until the process ends (the
 * kernel releases it then, whatever the death).  A directory whose lock is
 * held is never removed; one whose lock can be taken belongs to a job that
 * ended or died.  Directories are created as a hidden ".new-XXXXXX",
 * locked, then renamed: nobody ever sees an unlocked live job.
 */

/*
 * Create jobs/name (mode 0700) with its lock held: 0 and *lock, the fd to
 * keep open for the job's life; -EEXIST if name is taken, or -errno.
 */
int jobdir_create(const char *jobs, const char *name, int *lock);

/*
 * Take the lock of a job directory whose job is gone: 0 and *lock (hold
 * it while removing the directory), -EBUSY while its job (or another
 * cleanup) holds it, -ENOENT if it is no longer there, or -errno.
 */
int jobdir_lock(const char *dir, int *lock);

/* Does a live job hold dir's lock?  1 yes, 0 no, or -errno (-EACCES...). */
int jobdir_alive(const char *dir);

/* A name under jobs/ that jobdir_create() is still making. */
bool jobdir_is_new(const char *name);

#endif
