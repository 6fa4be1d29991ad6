/* cleanup.h - releasing what a job that died (kill -9, crash) left behind */
#ifndef AVBATCH_CLEANUP_H
#define AVBATCH_CLEANUP_H

#include "util.h"

/*
 * Release a job's leftovers if its avbatch process is gone (the lock on
 * its directory is free, see jobdir.h; held while we work): its engines,
 * daemons and helpers (by process group, checked against their start time
 * so a reused pid is never hit), mounts below its directory, loop devices
 * backed by files in it, then the directory.  Returns 0, -EBUSY while the
 * job still runs, -EALREADY for a job that finished cleanly (kept for its
 * logs and report), or -errno.  What was done goes to *done, one per line.
 */
int cleanup_job(const char *jobdir, struct buf *done, char **cause);

/* cleanup_job() for every job under state_dir/jobs; the number cleaned. */
int cleanup_dead_jobs(const char *state_dir, struct buf *done);

/*
 * Remove the directories of finished jobs beyond the newest keep, and
 * those older than days (0: no age limit); never a running job's.  The
 * number removed; what was done goes to *done.
 */
int cleanup_old_jobs(const char *state_dir, size_t keep, unsigned days,
		     struct buf *done);

#endif
