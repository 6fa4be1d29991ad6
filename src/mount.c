/* mount.c - attaching images; planning, mounting, releasing file systems */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fscheck.h"
#include "json.h"
#include "loop.h"
#include "mount.h"
#include "mtools.h"
#include "proc.h"
#include "util.h"

/* Every mount: read-only, and nothing on it runs or is a device. */
#define RO_OPTS		"ro,nosuid,nodev,noexec"
/* A writable mount (mount_plan_write): still nothing runs or is a device. */
#define RW_OPTS		"rw,nosuid,nodev,noexec"

/* qemu's lock bytes (block/file-posix.c): 100 + permission bit. */
#define QEMU_LOCK_PERM_BASE	100
#define QEMU_LOCK_SHARED_BASE	200
#define QEMU_PERM_WRITE_BIT	1

/* How long a FUSE program may take to show its mount. */
#define FUSE_READY_TIMEOUT	30.0
/* ... and to write back and exit once its writable mount is gone. */
#define FUSE_EXIT_TIMEOUT	120.0

struct attach {
	char *view;
	int lock_fd;
	pid_t qsd;		/* qemu-storage-daemon or qemu-nbd serving it */
	char *export;		/* the FUSE export's mount point file */
	char *nbd;		/* or the /dev/nbdN it is connected to */
	char *log;
	char *overlay;		/* a throwaway qcow2 on top, or NULL */
	int undo_fd;		/* writable: the undo file's target, or -1 */
};

/* How long qemu-nbd may take to connect a device. */
#define NBD_READY_TIMEOUT	30.0

struct mnt {
	char *target;
	pid_t helper;		/* FUSE program, or 0 for a kernel mount */
	bool mounted;
	bool extracted;		/* target holds a copy, not a mount */
};

int mount_private_namespace(char **cause)
{
	if (unshare(CLONE_NEWNS) < 0) {
		*cause = xasprintf("cannot create a private mount namespace: %s",
				   strerror(errno));
		return -errno;
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		*cause = xasprintf("cannot make mounts private: %s",
				   strerror(errno));
		return -errno;
	}
	return 0;
}

/* Is byte (from qemu's lock layout) held by another open file description? */
static int lock_byte_held(int fd, off_t byte, bool *held)
{
	struct flock fl = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET,
		.l_start = byte, .l_len = 1,
	};

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	*held = fl.l_type != F_UNLCK;
	return 0;
}

static int check_in_use_fd(int fd, const char *path, char **cause)
{
	bool held = false;
	int r;

	r = lock_byte_held(fd, QEMU_LOCK_PERM_BASE + QEMU_PERM_WRITE_BIT,
			   &held);
	if (r < 0) {
		*cause = xasprintf("cannot test the lock of '%s': %s", path,
				   strerror(-r));
		return r;
	}
	if (held) {
		*cause = xstrdup("in use: another process (a running VM?) "
				 "has the image open for writing");
		return -EBUSY;
	}
	return 0;
}

/*
 * Open an image read-only (path, or name's file as /proc/self/fd/N),
 * refusing it if a writer holds it: fd or -errno.
 */
static int open_unused(const char *path, const char *name, char **cause)
{
	struct stat st;
	int fd, r;

	/* Non-blocking: a FIFO named as an image must not hang the batch. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*cause = xasprintf("cannot open '%s': %s", name,
				   strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))) {
		*cause = xasprintf("'%s' is not a disk image file", name);
		close(fd);
		return -EINVAL;
	}
	r = check_in_use_fd(fd, name, cause);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int mount_check_in_use(const char *path, char **cause)
{
	int fd = open_unused(path, path, cause);

	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/*
 * Test for a writer and hold a shared lock on qemu's "write not shared"
 * byte, so a VM started meanwhile fails to take the image for writing:
 * on the very file image_open opened, reopened for a lock of its own.
 */
static int lock_image(const struct image *img, int *fdp, char **cause)
{
	struct flock fl = {
		.l_type = F_RDLCK, .l_whence = SEEK_SET,
		.l_start = QEMU_LOCK_SHARED_BASE + QEMU_PERM_WRITE_BIT,
		.l_len = 1,
	};
	char *path = xasprintf("/proc/self/fd/%d", img->files[0].fd);
	int fd, r = 0;

	fd = open_unused(path, img->path, cause);
	free(path);
	if (fd < 0)
		return fd;
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		r = -errno;
		*cause = xasprintf("in use: cannot lock '%s': %s", img->path,
				   strerror(errno));
		if (r == -EAGAIN)
			r = -EBUSY;
	}
	if (r) {
		close(fd);
		return r;
	}
	*fdp = fd;
	return 0;
}

/* Is target a mount point in our namespace, according to the kernel? */
static bool is_mounted(const char *target)
{
	struct libmnt_table *tb = mnt_new_table_from_file(
					"/proc/self/mountinfo");
	bool found;

	if (!tb)
		return false;
	found = mnt_table_find_target(tb, target, MNT_ITER_BACKWARD) != NULL;
	mnt_unref_table(tb);
	return found;
}

/* proc_wait_ready's probe: has a FUSE program shown its mount at arg? */
static int fuse_mounted(void *arg, double *interval, char **cause)
{
	(void)interval;
	(void)cause;
	return is_mounted(arg);
}

/*
 * Wait until a FUSE program shows its mount at target, or dies.  A program
 * that dies has its last log line put in *cause.
 */
static int wait_fuse_ready(pid_t pid, const char *target, const char *log,
			   char **cause)
{
	return proc_wait_ready(&(struct proc_ready){ .pid = pid,
		.probe = fuse_mounted, .arg = (void *)target, .interval = 0.01,
		.deadline = time_mono() + FUSE_READY_TIMEOUT,
		.late = "timed out waiting for the mount", .log = log },
		cause);
}

/* End a FUSE program after its mount is gone (or never came). */
static void end_helper(pid_t pid, const char *target)
{
	if (pid <= 0)
		return;
	if (is_mounted(target))
		umount2(target, MNT_DETACH);
	proc_kill_group(pid, 10.0, NULL);
}

/* Append "--blockdev JSON" to argv; takes o. */
static void push_blockdev(struct strv *argv, struct json_object *o)
{
	strv_push(argv, "--blockdev");
	strv_push(argv, json_object_to_json_string_ext(o,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/*
 * --blockdev arguments for one layer of the chain, read-only unless
 * writable, over the descriptors image_open checked (appended to fds for
 * qemu to inherit).
 */
static void push_layer(struct strv *argv, const struct image *img, size_t i,
		       bool writable, struct fdv *fds)
{
	struct json_object *lay = image_layer_json(img, i, false, fds);
	char *lnode = xasprintf("l%zu", i), *next = xasprintf("l%zu", i + 1);

	if (writable)
		image_layer_writable(lay);
	json_put_str(lay, "node-name", lnode);
	/* A format that has a backing node: the next layer's, or none. */
	if (json_object_object_get_ex(lay, "backing", NULL))
		json_put_str(lay, "backing", i < img->backing.n ? next : NULL);
	push_blockdev(argv, lay);
	free(lnode);
	free(next);
}

/*
 * --blockdev arguments for a writable qcow2 overlay on top of the
 * read-only chain ("l0"): writes land in the overlay file only.
 */
static void push_overlay(struct strv *argv, const char *path)
{
	struct json_object *file = json_object_new_object();
	struct json_object *ov = json_object_new_object();

	json_put_str(file, "driver", "file");
	json_put_str(file, "node-name", "ovf");
	json_put_str(file, "filename", path);
	json_put_str(ov, "driver", "qcow2");
	json_put_str(ov, "node-name", "ov");
	json_put_str(ov, "file", "ovf");
	json_put_str(ov, "backing", "l0");
	push_blockdev(argv, file);
	push_blockdev(argv, ov);
}

/*
 * --blockdev arguments for qemu's copy-before-write filter above the
 * writable top layer ("l0"): before qemu writes a range of the guest's
 * disk, it copies what the range held into the undo qcow2 (fd), at the
 * same offset.  A copy that fails fails the write (break-guest-write).
 */
static void push_cbw(struct strv *argv, int fd, struct fdv *fds)
{
	struct json_object *file = json_object_new_object();
	struct json_object *undo = json_object_new_object();
	struct json_object *cbw = json_object_new_object();
	char *path = xasprintf("/proc/self/fd/%d", fd);

	json_put_str(file, "driver", "file");
	json_put_str(file, "filename", path);
	free(path);
	json_put_str(undo, "driver", "qcow2");
	json_put_str(undo, "node-name", "undo");
	json_put_obj(undo, "file", file);
	json_put_str(cbw, "driver", "copy-before-write");
	json_put_str(cbw, "node-name", "cbw");
	json_put_str(cbw, "file", "l0");
	json_put_str(cbw, "target", "undo");
	json_put_str(cbw, "on-cbw-error", "break-guest-write");
	push_blockdev(argv, undo);
	push_blockdev(argv, cbw);
	fds->v = xreallocarray(fds->v, fds->n + 1, sizeof(*fds->v));
	fds->v[fds->n++] = fd;
}

/*
 * Start qemu-storage-daemon with the image's chain spelled out node by
 * node (so qemu opens exactly the files avbatch checked) and a read-only
 * FUSE export of the top layer.
 */
static int attach_qsd(struct attach *a, const struct image *img,
		      const char *workdir, const char *name, char **cause)
{
	struct json_object *exp = json_object_new_object();
	struct strv argv = { 0 };
	struct fdv fds = { 0 };
	char *prog = NULL;
	int fd, r;

	r = proc_which("qemu-storage-daemon", &prog);
	if (r < 0) {
		*cause = xstrdup("qemu-storage-daemon not found in PATH");
		goto done;
	}
	a->export = xasprintf("%s/%s", workdir, name);
	a->log = xasprintf("%s/%s.log", workdir, a->overlay ? "overlay" :
			   a->undo_fd >= 0 ? "writable" : "qemu");
	fd = open(a->export, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		  O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot create '%s': %s", a->export,
				   strerror(errno));
		goto done;
	}
	close(fd);

	strv_push_take(&argv, prog);
	prog = NULL;
	/* Bottom first: a node can only name nodes defined before it. */
	for (size_t i = img->backing.n + 1; i > 0; i--)
		push_layer(&argv, img, i - 1, i == 1 && a->undo_fd >= 0, &fds);
	if (a->overlay)
		push_overlay(&argv, a->overlay);
	if (a->undo_fd >= 0)
		push_cbw(&argv, a->undo_fd, &fds);
	json_put_str(exp, "type", "fuse");
	json_put_str(exp, "id", "view");
	json_put_str(exp, "node-name", a->overlay ? "ov" :
		     a->undo_fd >= 0 ? "cbw" : "l0");
	json_put_str(exp, "mountpoint", a->export);
	json_object_object_add(exp, "writable", json_object_new_boolean(
			       a->overlay != NULL || a->undo_fd >= 0));
	/*
	 * Writing the image: each write flushed to it.  (qemu 7.2's filter
	 * passes no flush on to the undo file: undo.c tells when that file
	 * was not closed.)
	 */
	if (a->undo_fd >= 0)
		json_object_object_add(exp, "writethrough",
				       json_object_new_boolean(1));
	json_put_str(exp, "allow-other", "off");
	strv_push(&argv, "--export");
	strv_push(&argv, json_object_to_json_string_ext(exp,
			JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

	r = -proc_spawn(argv.v, &(struct proc_io){ .out_path = a->log,
			.err_path = a->log, .fds = fds.v, .nfds = fds.n },
			&a->qsd);
	if (r < 0) {
		*cause = xasprintf("cannot start qemu-storage-daemon: %s",
				   strerror(-r));
		a->qsd = 0;
		goto done;
	}
	r = wait_fuse_ready(a->qsd, a->export, a->log, cause);
	if (r < 0)
		goto done;
	a->view = xstrdup(a->export);
done:
	json_object_put(exp);
	strv_release(&argv);
	free(fds.v);
	free(prog);
	return r;
}

/* A /dev/nbdN nobody serves, or NULL. */
static char *free_nbd(void)
{
	for (int n = 0; n < 128; n++) {
		char *sys = xasprintf("/sys/block/nbd%d", n);
		char *pid = xasprintf("%s/pid", sys);
		bool ok = access(sys, F_OK) == 0 && access(pid, F_OK) != 0;

		free(sys);
		free(pid);
		if (ok)
			return xasprintf("/dev/nbd%d", n);
	}
	return NULL;
}

/* proc_wait_ready's probe: is the nbd served (arg: its pid file)? */
static int nbd_connected(void *arg, double *interval, char **cause)
{
	(void)interval;
	(void)cause;
	return access(arg, F_OK) == 0;
}

/*
 * On hosts with the nbd module: qemu-nbd connects the chain, spelled out
 * as json: options (exactly the files avbatch checked), read-only, to a
 * free /dev/nbdN.  -ENODEV when the host has no nbd.
 */
static int attach_nbd(struct attach *a, const struct image *img,
		      const char *workdir, char **cause)
{
	struct json_object *top = NULL;
	struct strv argv = { 0 };
	struct fdv fds = { 0 };
	char *prog = NULL, *pidfile = NULL;
	double deadline = time_mono() + NBD_READY_TIMEOUT;
	int r;

	if (access("/sys/module/nbd", F_OK) != 0 ||
	    proc_which("qemu-nbd", &prog) < 0 || !(a->nbd = free_nbd())) {
		free(prog);
		return -ENODEV;
	}
	a->log = xasprintf("%s/qemu.log", workdir);
	top = image_layer_json(img, 0, true, &fds);
	strv_push_take(&argv, prog);
	strv_push(&argv, "--read-only");
	strv_push_take(&argv, xasprintf("--connect=%s", a->nbd));
	strv_push_take(&argv, xasprintf("json:%s",
		json_object_to_json_string_ext(top, JSON_C_TO_STRING_PLAIN |
					       JSON_C_TO_STRING_NOSLASHESCAPE)));
	r = -proc_spawn(argv.v, &(struct proc_io){ .out_path = a->log,
			.err_path = a->log, .fds = fds.v, .nfds = fds.n },
			&a->qsd);
	if (r < 0) {
		*cause = xasprintf("cannot start qemu-nbd: %s", strerror(-r));
		a->qsd = 0;
		goto done;
	}
	pidfile = xasprintf("/sys/block/%s/pid", a->nbd + strlen("/dev/"));
	r = proc_wait_ready(&(struct proc_ready){ .pid = a->qsd,
		.probe = nbd_connected, .arg = pidfile, .interval = 0.02,
		.deadline = deadline, .late = "qemu-nbd did not connect",
		.log = a->log }, cause);
	if (r == -EIO)
		a->qsd = 0;
	if (r < 0)
		goto done;
	a->view = xstrdup(a->nbd);
done:
	json_object_put(top);
	strv_release(&argv);
	free(fds.v);
	free(pidfile);
	return r;
}

/* Disconnect /dev/nbdN and end its qemu-nbd. */
static void detach_nbd(struct attach *a)
{
	struct strv argv = { 0 };
	char *prog = NULL;
	int st;

	if (proc_which("qemu-nbd", &prog) == 0) {
		strv_push_take(&argv, prog);
		strv_push(&argv, "--disconnect");
		strv_push(&argv, a->nbd);
		proc_run(argv.v, NULL, 10, &st);
		strv_release(&argv);
	}
	if (a->qsd > 0)
		proc_kill_group(a->qsd, 10.0, NULL);
	a->qsd = 0;
}

int mount_attach(const struct image *img, const char *workdir,
		 struct attach **out, char **cause)
{
	struct attach *a = xcalloc(1, sizeof(*a));
	int r;

	a->lock_fd = a->undo_fd = -1;
	r = lock_image(img, &a->lock_fd, cause);
	if (r < 0)
		goto fail;
	if (!strcmp(img->format, "raw")) {
		/* The file image_open opened, not whatever path names now. */
		a->view = xasprintf("/proc/self/fd/%d", a->lock_fd);
		goto done;
	}
	/* A real block device where the host has nbd; else a FUSE export. */
	r = attach_nbd(a, img, workdir, cause);
	/* A stop is no failure to work around. */
	if (r == -ECANCELED)
		goto fail;
	if (r < 0 && r != -ENODEV)
		msg_info("qemu-nbd failed (%s); using a FUSE export instead",
			 *cause);
	if (r < 0) {
		if (a->nbd)
			detach_nbd(a);
		free(a->nbd);
		free(a->log);
		free(*cause);
		a->nbd = a->log = *cause = NULL;
		r = attach_qsd(a, img, workdir, "view", cause);
		if (r < 0)
			goto fail;
	}
done:
	*out = a;
	return 0;
fail:
	mount_detach(a);
	return r;
}

/* An empty qcow2 of the image's size (its backing is set at open). */
static int create_overlay(const char *path, uint64_t size, char **cause)
{
	char *sz = xasprintf("%llu", (unsigned long long)size);
	const char *argv[] = {
		"qemu-img", "create", "-q", "-f", "qcow2", path, sz, NULL
	};
	struct buf b = { 0 };
	int r;

	r = proc_capture(argv, 60, &b, cause);
	buf_release(&b);
	free(sz);
	return r;
}

int mount_attach_overlay(const struct image *img, const char *workdir,
			 struct attach **out, char **cause)
{
	struct attach *a = xcalloc(1, sizeof(*a));
	int r;

	a->lock_fd = a->undo_fd = -1;
	a->overlay = xasprintf("%s/overlay.qcow2", workdir);
	r = create_overlay(a->overlay, img->virtual_size, cause);
	if (r < 0) {
		char *c = *cause;

		*cause = xasprintf("cannot create an overlay: %s", c);
		free(c);
		goto fail;
	}
	r = attach_qsd(a, img, workdir, "rwview", cause);
	if (r < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	mount_detach(a);
	return r;
}

/*
 * A chain qemu can write only through its top file: no qcow2 external data
 * file, no vmdk whose descriptor names extents (qemu would update the
 * copy avbatch made of the descriptor, not the image's).
 */
static int writable_format(const struct image *img, char **cause)
{
	const struct image_files *f = &img->files[0];

	if (f->data_fd >= 0 || f->copy_fd >= 0 || f->nextents) {
		*cause = xasprintf("'%s' is kept in several files: avbatch "
				   "writes only single-file images", img->path);
		return -ENOTSUP;
	}
	return 0;
}

int mount_attach_writable(const struct image *img, const char *workdir,
			  const char *undo, struct attach **out, char **cause)
{
	struct attach *a = xcalloc(1, sizeof(*a));
	char *path = xasprintf("/proc/self/fd/%d", img->files[0].fd);
	int fd, r;

	a->lock_fd = a->undo_fd = -1;
	r = writable_format(img, cause);
	if (r < 0)
		goto fail;
	/* A writer now is refused here; one that comes later, by qemu. */
	fd = open_unused(path, img->path, cause);
	if (fd < 0) {
		r = fd;
		goto fail;
	}
	close(fd);
	a->undo_fd = open(undo, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (a->undo_fd < 0) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", undo,
				   strerror(errno));
		goto fail;
	}
	r = attach_qsd(a, img, workdir, "wview", cause);
	if (r < 0)
		goto fail;
	free(path);
	*out = a;
	return 0;
fail:
	free(path);
	mount_detach(a);
	return r;
}

int mount_attach_check(struct attach *a, char **cause)
{
	if (!a || a->qsd <= 0 || proc_try_reap(a->qsd, NULL) == 0)
		return 0;
	a->qsd = 0;
	*cause = xasprintf("%s, which served the image, died during the scan",
			   a->nbd ? "qemu-nbd" : "qemu-storage-daemon");
	return -EIO;
}

const char *mount_attach_view(const struct attach *a)
{
	return a->view;
}

/*
 * Wait (at most timeout seconds) until no loop device reads path: an
 * autoclear loop is released after its last user goes, not at once, and
 * a FUSE export still held by one keeps its qemu from closing cleanly.
 */
static void wait_loops_gone(const char *path, double timeout)
{
	double deadline = time_mono() + timeout;

	for (;;) {
		DIR *d = opendir("/sys/block");
		struct dirent *e;
		bool held = false;

		while (d && !held && (e = readdir(d))) {
			char *f;
			struct buf b = { 0 };

			if (strncmp(e->d_name, "loop", 4))
				continue;
			f = xasprintf("/sys/block/%s/loop/backing_file",
				      e->d_name);
			if (read_file(f, 4096, &b) == 0 && b.p &&
			    !strncmp(b.p, path, strlen(path)) &&
			    (b.p[strlen(path)] == '\n' ||
			     b.p[strlen(path)] == '\0'))
				held = true;
			buf_release(&b);
			free(f);
		}
		if (d)
			closedir(d);
		if (!held || time_mono() >= deadline)
			return;
		usleep(50000);
	}
}

void mount_detach(struct attach *a)
{
	if (!a)
		return;
	if (a->nbd) {
		detach_nbd(a);
	} else if (a->qsd > 0 && a->undo_fd >= 0) {
		/*
		 * The writer unmounts its own export on SIGTERM: qemu 7.2
		 * sometimes crashes (SIGSEGV) at exit when its FUSE export was
		 * detached under it first, leaving the undo file's dirty bit
		 * set and the undo point unusable (2 clean runs in 20 on a
		 * loaded machine; none in 60 this way).
		 */
		wait_loops_gone(a->export, 10.0);
		proc_kill_group(a->qsd, 10.0, NULL);
		if (is_mounted(a->export))
			umount2(a->export, MNT_DETACH);
	} else if (a->qsd > 0) {
		end_helper(a->qsd, a->export);
	}
	if (a->export)
		unlink(a->export);
	if (a->overlay)
		unlink(a->overlay);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	if (a->undo_fd >= 0)
		close(a->undo_fd);
	free(a->overlay);
	free(a->view);
	free(a->export);
	free(a->nbd);
	free(a->log);
	free(a);
}

/* Does the running kernel have (or can it load) a file system type? */
static bool kernel_has_fs(const char *type)
{
	struct buf b = { 0 };
	struct utsname u;
	char *needle;
	bool found = false;

	if (read_file("/proc/filesystems", 1 << 16, &b) == 0) {
		needle = xasprintf("\t%s\n", type);
		found = strstr(b.p, needle) != NULL;
		free(needle);
	}
	buf_release(&b);
	if (found || uname(&u) < 0)
		return found;
	needle = xasprintf("/lib/modules/%s/modules.dep", u.release);
	if (read_file(needle, 16 << 20, &b) == 0) {
		char *mod = xasprintf("/%s.ko", type);

		found = strstr(b.p, mod) != NULL;
		free(mod);
	}
	free(needle);
	buf_release(&b);
	return found;
}

static void plan_skip(struct fs_plan *plan, bool uncovered,
		      const char *reason)
{
	plan->skip = xstrdup(reason);
	plan->uncovered = uncovered;
}

static void plan_mount(struct fs_plan *plan, const char *driver,
		       enum fs_access access, const char *extra)
{
	plan->driver = xstrdup(driver);
	plan->access = access;
	if (access == FS_EXTRACT)
		plan->options = xstrdup("copy to a private directory");
	else
		plan->options = xasprintf(RO_OPTS "%s%s", *extra ? "," : "",
					  extra);
}

/* The mount plan for a probed type ("ext4", "swap", "crypto_LUKS", ...). */
static void plan_type(const char *type, struct fs_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	if (!type)
		plan_skip(plan, false, "no file system found");
	else if (!strcmp(type, "ext2") || !strcmp(type, "ext3") ||
		 !strcmp(type, "ext4") || !strcmp(type, "ext4dev"))
		/* noload: never replay the journal, not even in memory. */
		plan_mount(plan, "ext4", FS_KERNEL, "noload");
	else if (!strcmp(type, "xfs")) {
		/*
		 * Clones share UUIDs.  Whether the log is dirty only the
		 * kernel tells: on a read-only device it refuses (EROFS) to
		 * mount a dirty log, and the log is replayed in an overlay.
		 */
		plan_mount(plan, "xfs", FS_KERNEL, "nouuid");
		plan->log_check = true;
	} else if (!strcmp(type, "btrfs"))
		/* The top level: every subvolume and snapshot below it. */
		plan_mount(plan, "btrfs", FS_KERNEL,
			   "rescue=nologreplay,subvolid=5");
	else if (!strcmp(type, "ntfs"))
		if (kernel_has_fs("ntfs3"))
			plan_mount(plan, "ntfs3", FS_KERNEL, "");
		else
			/* Named data streams as "user." attributes. */
			plan_mount(plan, "ntfs-3g", FS_FUSE,
				   "streams_interface=xattr");
	else if (!strcmp(type, "vfat") || !strcmp(type, "msdos"))
		/*
		 * Not fusefat: 0.1a shows short names upper-case and the volume
		 * label as a file that can hide a directory of the same name.
		 * mtools copies the files out (read-only) with their real names.
		 */
		if (kernel_has_fs("vfat"))
			plan_mount(plan, "vfat", FS_KERNEL, "");
		else
			plan_mount(plan, "mtools", FS_EXTRACT, "");
	else if (!strcmp(type, "exfat"))
		if (kernel_has_fs("exfat"))
			plan_mount(plan, "exfat", FS_KERNEL, "");
		else
			plan_mount(plan, "mount.exfat-fuse", FS_FUSE, "");
	else if (!strcmp(type, "swap"))
		plan_skip(plan, false, "swap space");
	else if (!strcmp(type, "swsuspend"))
		plan_skip(plan, true, "swap holding a hibernation image");
	else if (!strcmp(type, "crypto_LUKS"))
		plan_skip(plan, true, "encrypted (LUKS)");
	else if (!strcmp(type, "BitLocker"))
		plan_skip(plan, true, "encrypted (BitLocker)");
	else if (!strcmp(type, "LVM2_member"))
		/* image.c's read_lvm() replaces this once it has read the VG. */
		plan_skip(plan, true, "LVM physical volume");
	else if (!strcmp(type, "LVM1_member"))
		plan_skip(plan, true, "LVM1 physical volume: not supported");
	else if (!strcmp(type, "linux_raid_member"))
		plan_skip(plan, true, "MD RAID member: guest arrays are not "
			  "assembled");
	else if (strstr(type, "_raid_member"))
		plan_skip(plan, true, "firmware RAID member: guest arrays are "
			  "not assembled");
	else if (!strcmp(type, "zfs_member"))
		plan_skip(plan, true, "ZFS pool member: ZFS is not supported");
	else if (!strcmp(type, "jbd"))
		plan_skip(plan, false, "external ext journal");
	else if (kernel_has_fs(type))
		plan_mount(plan, type, FS_KERNEL, "");
	else {
		char *why = xasprintf("unsupported file system type '%s'",
				      type);

		plan_skip(plan, true, why);
		free(why);
	}
}

/* Forget a plan (a file system planned again). */
static void plan_release(struct fs_plan *plan)
{
	free(plan->driver);
	free(plan->options);
	free(plan->skip);
	free(plan->warning);
	memset(plan, 0, sizeof(*plan));
}

/* Plan one file system's mount from what its layout and probe show. */
static void plan_fs(struct fs *fs)
{
	struct fs_plan *plan = &fs->plan;

	plan_release(plan);
	if (fs->layout_skip) {
		plan_skip(plan, fs->layout_uncovered, fs->layout_skip);
		return;
	}
	plan_type(fs->type, plan);
	/* Plan a replay of an unclean ext journal instead of ignoring it. */
	if (plan->skip || strcmp(plan->driver, "ext4") ||
	    !fs->journal_unclean)
		return;
	free(plan->options);
	plan->options = xstrdup(RO_OPTS);
	plan->replay = true;
}

void mount_plan(struct image *img)
{
	for (size_t i = 0; i < img->nfs; i++)
		plan_fs(&img->fs[i]);
}

void mount_plan_release(struct fs_plan *plan)
{
	plan_release(plan);
}

static void plan_write_mount(struct fs_plan *plan, const char *driver,
			     enum fs_access access, const char *extra)
{
	plan->driver = xstrdup(driver);
	plan->access = access;
	plan->write = true;
	if (access == FS_EXTRACT)
		plan->options = xstrdup("changed in place by mtools");
	else
		plan->options = xasprintf(RW_OPTS "%s%s", *extra ? "," : "",
					  extra);
}

/* The writable plan for fs's probed type, or why there is none. */
static int plan_write_type(const struct fs *fs, struct fs_plan *plan)
{
	const char *type = fs->type;

	if (!type) {
		plan->skip = xstrdup("no file system found: nothing to write");
		return -ENOENT;
	}
	if (!strcmp(type, "ext2") || !strcmp(type, "ext3") ||
	    !strcmp(type, "ext4") || !strcmp(type, "ext4dev"))
		/*
		 * Without noload: a journal that needs replaying is replayed
		 * on the device written, inside the protected change.
		 */
		plan_write_mount(plan, "ext4", FS_KERNEL, "");
	else if (!strcmp(type, "xfs"))
		plan_write_mount(plan, "xfs", FS_KERNEL, "nouuid");
	else if (!strcmp(type, "btrfs"))
		plan_write_mount(plan, "btrfs", FS_KERNEL, "subvolid=5");
	else if (!strcmp(type, "ntfs"))
		/*
		 * Windows hibernated it (or shut down with Fast Startup):
		 * resuming writes back what it held in memory over any change.
		 * ntfs-3g refuses it too; never remove_hiberfile.
		 */
		if (fs->plan.warning)
			plan->skip = xstrdup("hibernated or shut down with Fast "
					     "Startup: a resume would overwrite "
					     "the changes");
		else
			plan_write_mount(plan, "ntfs-3g", FS_FUSE,
					 "streams_interface=xattr");
	else if (!strcmp(type, "vfat") || !strcmp(type, "msdos"))
		/* No kernel vfat: files are deleted and read by mtools.h. */
		plan_write_mount(plan, "mtools", FS_EXTRACT, "");
	else if (!strcmp(type, "exfat"))
		plan_write_mount(plan, "mount.exfat-fuse", FS_FUSE, "");
	else if (!strcmp(type, "swap")) {
		plan->skip = xstrdup("swap space: nothing to write");
		return -ENOENT;
	} else if (!strcmp(type, "swsuspend"))
		plan->skip = xstrdup("swap holding a hibernation image: a "
				     "resume would overwrite the changes");
	else if (!strcmp(type, "crypto_LUKS"))
		plan->skip = xstrdup("encrypted (LUKS): never unlocked, never "
				     "written");
	else if (!strcmp(type, "BitLocker"))
		plan->skip = xstrdup("encrypted (BitLocker): never unlocked, "
				     "never written");
	else {
		/* Whatever the read-only plan says of it (RAID, ZFS, ...). */
		struct fs_plan ro;
		bool some;

		plan_type(type, &ro);
		some = ro.skip && !ro.uncovered;
		plan->skip = ro.skip ? xstrdup(ro.skip) :
			     xasprintf("no writable mount for file system "
				       "type '%s'", type);
		plan_release(&ro);
		if (some)
			return -ENOENT;
	}
	return plan->skip ? -EPERM : 0;
}

int mount_plan_write(const struct image *img, size_t k, struct fs_plan *plan,
		     char **cause)
{
	const struct fs *fs = &img->fs[k];
	int r;

	memset(plan, 0, sizeof(*plan));
	if (fs->layout_skip) {
		/* An LVM thin LV, an LDM partition, unreadable data, ... */
		plan->skip = xstrdup(fs->layout_skip);
		r = fs->layout_uncovered ? -EPERM : -ENOENT;
	} else {
		r = plan_write_type(fs, plan);
	}
	if (r < 0)
		*cause = xstrdup(plan->skip);
	return r;
}

static int mount_kernel(const char *dev, const struct fs *fs,
			const char *target, char **cause)
{
	struct libmnt_context *cxt = mnt_new_context();
	int r;

	if (!cxt) {
		*cause = xstrdup("cannot create a libmount context");
		return -ENOMEM;
	}
	/* Only the kernel: no /sbin/mount.* helper, no fstab, no utab. */
	mnt_context_disable_helpers(cxt, 1);
	mnt_context_disable_mtab(cxt, 1);
	mnt_context_set_optsmode(cxt, MNT_OMODE_NOTAB);
	mnt_context_set_source(cxt, dev);
	mnt_context_set_target(cxt, target);
	mnt_context_set_fstype(cxt, fs->plan.driver);
	mnt_context_set_options(cxt, fs->plan.options);
	r = mnt_context_mount(cxt);
	if (r != 0) {
		char msg[1024] = "";

		int e = mnt_context_syscall_called(cxt) ?
			mnt_context_get_syscall_errno(cxt) : 0;

		mnt_context_get_excode(cxt, r, msg, sizeof(msg));
		*cause = xasprintf("mount failed: %s", *msg ? msg :
			strerror(e));
		/* EROFS: the driver wants to write (replay a log). */
		r = e == EROFS ? -EROFS : -EIO;
	}
	mnt_free_context(cxt);
	return r;
}

/* Start a FUSE driver in the foreground, as our child, and wait for it. */
static int mount_fuse(struct mnt *m, const char *dev, const struct fs *fs,
		      const char *logdir, char **cause)
{
	struct strv argv = { 0 };
	char *prog = NULL, *log = NULL;
	int r;

	r = proc_which(fs->plan.driver, &prog);
	if (r < 0) {
		*cause = xasprintf("FUSE driver '%s' not found in PATH",
				   fs->plan.driver);
		return r;
	}
	log = xasprintf("%s/%s.log", logdir, fs->plan.driver);
	strv_push_take(&argv, prog);
	if (!strcmp(fs->plan.driver, "ntfs-3g")) {
		char *o = xasprintf("%s,no_detach", fs->plan.options);

		strv_push(&argv, "-o");
		strv_push_take(&argv, o);
	} else if (!strcmp(fs->plan.driver, "mount.exfat-fuse")) {
		/*
		 * exfat-fuse takes no -f: -d is its only way to stay in the
		 * foreground (it logs every request).
		 */
		strv_push(&argv, "-d");
		strv_push(&argv, "-o");
		strv_push(&argv, fs->plan.options);
	} else {
		strv_push(&argv, "-f");
		strv_push(&argv, "-o");
		strv_push(&argv, fs->plan.options);
	}
	strv_push(&argv, dev);
	strv_push(&argv, m->target);
	r = -proc_spawn(argv.v, &(struct proc_io){ .out_path = log,
						   .err_path = log }, &m->helper);
	if (r < 0) {
		*cause = xasprintf("cannot start %s: %s", fs->plan.driver,
				   strerror(-r));
		m->helper = 0;
		goto done;
	}
	r = wait_fuse_ready(m->helper, m->target, log, cause);
	if (r == -EIO) {
		char *c = *cause;

		*cause = xasprintf("%s failed: %s", fs->plan.driver, c);
		free(c);
	}
done:
	strv_release(&argv);
	free(log);
	return r;
}

/*
 * Copy a FAT file system's files out with mtools, for kernels without vfat
 * (names exactly as the guest sees them, hidden files included).
 */
static int extract_fat(struct mnt *m, const char *dev, const char *logdir,
		       char **cause)
{
	char *log = xasprintf("%s/mtools.log", logdir);
	int r;

	m->extracted = true;
	r = mtools_extract(dev, 0, m->target, log, cause);
	free(log);
	return r;
}

/*
 * Mount one file system of a view at target (created 0700) through a
 * read-only loop device, with fs->plan (a writable one when the plan
 * replays a journal, view then an overlay's, or is a writable plan).  Returns 0 or -errno
 * with *cause holding the driver's message.
 */
static int mount_fs(const char *view, const struct fs *fs, const char *target,
		    struct mnt **out, char **cause)
{
	struct mnt *m = xcalloc(1, sizeof(*m));
	char *dev = NULL, *logdir = NULL, *slash;
	int lfd = -1, r;

	m->target = xstrdup(target);
	if (mkdir(target, 0700) < 0 && errno != EEXIST) {
		r = -errno;
		*cause = xasprintf("cannot create '%s': %s", target,
				   strerror(errno));
		goto fail;
	}
	/*
	 * A journal is replayed only into a throwaway overlay's view: the
	 * kernel replays it on a writable device, and the mount stays ro.
	 */
	lfd = loop_attach(view, fs->offset, fs->size,
			  fs->plan.replay || fs->plan.write, &dev, cause);
	if (lfd < 0) {
		r = lfd;
		goto fail;
	}
	logdir = xstrdup(target);
	slash = strrchr(logdir, '/');
	if (slash)
		*slash = '\0';
	switch (fs->plan.access) {
	default:
	case FS_KERNEL:
		r = mount_kernel(dev, fs, target, cause);
		break;
	case FS_FUSE:
		r = mount_fuse(m, dev, fs, logdir, cause);
		break;
	case FS_EXTRACT:
		r = extract_fat(m, dev, logdir, cause);
		break;
	}
	if (r < 0)
		goto fail;
	m->mounted = !m->extracted;
	close(lfd);
	free(dev);
	free(logdir);
	*out = m;
	return 0;
fail:
	if (lfd >= 0)
		close(lfd);
	free(dev);
	free(logdir);
	mount_release(m);
	return r;
}

/*
 * The view a file system is read through: the image's read-only view, or
 * for an unclean journal a throwaway overlay (started on first need).  If
 * no overlay can be had, the journal is left alone (noload) and the file
 * system marked as not fully covered.
 */
static const char *fs_view(const struct mount_source *src, struct fs *fs,
			   struct mount_note *note)
{
	char *cause = NULL, *o;

	if (!fs->plan.replay)
		return mount_attach_view(src->ro);
	if (*src->rw || mount_attach_overlay(src->img, src->workdir, src->rw,
					     &cause) == 0)
		return mount_attach_view(*src->rw);
	msg_info("%s: %s: %s", src->name, fs->id, cause);
	fs->plan.replay = false;
	fs->plan.log_check = false;
	o = fs->plan.options;
	fs->plan.options = xasprintf("%s,%s", o, strcmp(fs->plan.driver,
				     "xfs") ? "noload" : "norecovery");
	free(o);
	note->uncovered = true;
	free(note->reason);
	note->reason = xasprintf("journal not replayed (%s): files that live "
				 "only in the journal were not scanned", cause);
	free(cause);
	return mount_attach_view(src->ro);
}

/*
 * Mount one file system; an xfs whose dirty log the kernel refuses on a
 * read-only device is mounted again with the log replayed in an overlay
 * (or, if even that fails, without the log and marked not covered).
 */
static int mount_one(const struct mount_source *src, struct fs *fs,
		     const char *mnt, struct mnt **m, struct mount_note *note,
		     char **cause)
{
	char *o;
	int r;

	r = mount_fs(fs_view(src, fs, note), fs, mnt, m, cause);
	if (r == 0 || !fs->plan.log_check || fs->plan.replay ||
	    r == -ECANCELED)
		return r;
	fs->plan.log_check = false;
	if (r == -EROFS) {
		msg_debug("%s: %s: dirty log, replaying it in an overlay",
			  src->name, fs->id);
		fs->plan.replay = true;
	} else {
		note->uncovered = true;
		free(note->reason);
		note->reason = xasprintf("log not replayed (%s): files that "
					 "live only in the log were not "
					 "scanned", *cause);
		o = fs->plan.options;
		fs->plan.options = xasprintf("%s,norecovery", o);
		free(o);
	}
	free(*cause);
	*cause = NULL;
	return mount_fs(fs_view(src, fs, note), fs, mnt, m, cause);
}

int mount_filesystem(const struct mount_source *src, size_t k,
		     const char *target, struct mnt **out,
		     struct mount_note *note, char **cause)
{
	struct fs *fs = &src->img->fs[k];
	int r;

	memset(note, 0, sizeof(*note));
	r = mount_one(src, fs, target, out, note, cause);
	if (r < 0)
		return r;
	note->replayed = fs->plan.replay;
	if (fs->type && !strcmp(fs->type, "ntfs") && !fs->plan.warning)
		fs->plan.warning = image_ntfs_warning(target);
	return 0;
}

void mount_note_release(struct mount_note *note)
{
	free(note->reason);
	note->reason = NULL;
}

bool mount_has_streams(const struct fs *fs)
{
	return fs->plan.access == FS_FUSE &&
	       !strcmp(fs->plan.driver, "ntfs-3g") &&
	       strstr(fs->plan.options, "streams_interface=xattr");
}

/*
 * NTFS named data streams: ntfs-3g opens them by name ("file:stream") only
 * with streams_interface=windows, which also hides every name that holds a
 * colon; so the file system is walked through its usual mount and its
 * streams read through a second one.
 */
int mount_streams(struct attach *a, const struct fs *fs, const char *target,
		  struct mnt **out, char **cause)
{
	static const char xattr[] = "streams_interface=xattr";
	struct fs sfs = *fs;
	const char *o = sfs.plan.options, *at;
	int r;

	if (!mount_has_streams(fs)) {
		/* Not the plan mount_plan makes. */
		*cause = xasprintf("'%s' has no named data streams to show",
				   fs->id);
		return -EINVAL;
	}
	at = strstr(o, xattr);
	sfs.plan.options = xasprintf("%.*sstreams_interface=windows%s",
				     (int)(at - o), o, at + strlen(xattr));
	r = mount_fs(mount_attach_view(a), &sfs, target, out, cause);
	free(sfs.plan.options);
	return r;
}

/*
 * What fs shows before a write: an ext journal the probe found unclean; a
 * read-only mount by its ordinary plan (on a read-only loop over view)
 * shows whether Windows hibernated an NTFS (image.c's test) and whether an
 * xfs log is dirty (the kernel refuses a read-only device: EROFS).
 * Returns 0 with *hibernated and *dirty set, or -errno.
 */
static int look_before_write(const char *view, const struct fs *fs,
			     const char *workdir, bool *hibernated,
			     bool *dirty, char **cause)
{
	bool ntfs = !strcmp(fs->type, "ntfs"), xfs = !strcmp(fs->type, "xfs");
	struct fs ro = *fs;
	struct mnt *m = NULL;
	char *target, *warning = NULL;
	int r;

	*hibernated = false;
	*dirty = fs->journal_unclean;
	if (!ntfs && !xfs)
		return 0;
	target = xasprintf("%s/%s.look", workdir, fs->name);
	plan_type(fs->type, &ro.plan);
	r = mount_fs(view, &ro, target, &m, cause);
	if (r == 0 && ntfs) {
		warning = image_ntfs_warning(target);
		*hibernated = warning != NULL;
	} else if (r == -EROFS && xfs) {
		*dirty = true;
		free(*cause);
		*cause = NULL;
		r = 0;
	}
	mount_release(m);
	plan_release(&ro.plan);
	free(warning);
	free(target);
	return r;
}

/*
 * Replay fs's journal (or log) on view, which must be writable, by
 * mounting it writable once: the replay is part of the protected change,
 * and the check then sees the file system as the guest would.
 */
static int replay_journal(const char *view, const struct fs *fs,
			  const struct fs_plan *plan, const char *workdir,
			  char **cause)
{
	struct fs w = *fs;
	struct mnt *m = NULL;
	char *target = xasprintf("%s/%s.replay", workdir, fs->name);
	int r;

	w.plan = *plan;
	r = mount_fs(view, &w, target, &m, cause);
	if (r == 0)
		r = mount_unmount(m, cause);
	free(target);
	return r;
}

int mount_write_check(const char *view, const struct image *img, size_t k,
		      struct fs_plan *plan, const char *workdir,
		      struct fscheck_result *check, char **cause)
{
	const struct fs *fs = &img->fs[k];
	char *log = NULL, *c = NULL;
	bool hibernated, dirty;
	int r;

	memset(check, 0, sizeof(*check));
	check->code = -1;
	if (plan->skip || !plan->write) {
		*cause = xstrdup(plan->skip ? plan->skip :
				 "not a writable plan");
		return -EPERM;
	}
	r = look_before_write(view, fs, workdir, &hibernated, &dirty, &c);
	if (r < 0) {
		plan->skip = xasprintf("cannot look at it before writing: %s",
				       c);
		goto done;
	} else if (hibernated) {
		plan->skip = xstrdup("hibernated or shut down with Fast "
				     "Startup: a resume would overwrite the "
				     "changes");
		goto done;
	}
	if (dirty) {
		r = replay_journal(view, fs, plan, workdir, &c);
		if (r < 0) {
			plan->skip = xasprintf("its journal could not be "
					       "replayed: %s", c);
			goto done;
		}
		plan->replay = true;
	}
	log = xasprintf("%s/%s.check.log", workdir, fs->name);
	r = fscheck_run(fs->type, view, fs->offset, fs->size, log, check,
			&c);
	if (r < 0)
		plan->skip = xasprintf("its check could not run: %s", c);
	else if (check->status != FSCHECK_CLEAN)
		plan->skip = xasprintf("%s before cleaning: %s (exit %d)",
				       check->tool,
				       check->status == FSCHECK_ERRORS ?
				       "errors found" : "could not check",
				       check->code);
done:
	if (plan->skip) {
		plan->write = false;
		*cause = xstrdup(plan->skip);
		r = -EPERM;
	} else {
		plan->checked = true;
	}
	free(c);
	free(log);
	return r;
}

int mount_filesystem_write(const char *view, const struct fs *fs,
			   const struct fs_plan *plan, const char *target,
			   struct mnt **out, char **cause)
{
	struct fs w = *fs;

	if (plan->skip || !plan->write) {
		*cause = xstrdup(plan->skip ? plan->skip :
				 "not a writable plan");
		return -EPERM;
	}
	if (plan->access == FS_EXTRACT) {
		*cause = xasprintf("'%s' is changed through mtools, never "
				   "mounted", fs->id);
		return -EOPNOTSUPP;
	}
	if (!plan->checked) {
		*cause = xasprintf("'%s' was not checked before writing",
				   fs->id);
		return -EPERM;
	}
	w.plan = *plan;
	return mount_fs(view, &w, target, out, cause);
}

int mount_unmount(struct mnt *m, char **cause)
{
	int r = 0, st = 0;

	if (!m)
		return 0;
	/* EBUSY for a moment after the last file closes: wait 5 s at most. */
	for (int i = 0; m->mounted && umount2(m->target, 0) < 0; i++) {
		if (errno == EBUSY && i < 50) {
			usleep(100000);
			continue;
		}
		r = -errno;
		*cause = xasprintf("cannot unmount '%s': %s", m->target,
				   strerror(errno));
		goto done;
	}
	m->mounted = false;
	/*
	 * A FUSE driver writes back what it holds when its mount goes, then
	 * exits by itself: wait for that, and for its word that it went well.
	 */
	if (m->helper > 0) {
		r = proc_wait(m->helper, FUSE_EXIT_TIMEOUT, &st);
		if (r == 0) {
			m->helper = 0;
			if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
				*cause = xasprintf("'%s': its driver ended "
						   "with status %d",
						   m->target, st);
				r = -EIO;
			}
		} else {
			*cause = xasprintf("'%s': its driver did not end: %s",
					   m->target, strerror(-r));
		}
	}
done:
	mount_release(m);
	return r;
}

void mount_release(struct mnt *m)
{
	if (!m)
		return;
	if (m->helper > 0) {
		/* The driver exits by itself once its mount is gone. */
		if (m->mounted && umount2(m->target, 0) < 0)
			umount2(m->target, MNT_DETACH);
		end_helper(m->helper, m->target);
	} else if (m->mounted) {
		for (int i = 0; umount2(m->target, 0) < 0; i++) {
			if (errno != EBUSY || i == 50) {
				umount2(m->target, MNT_DETACH);
				break;
			}
			usleep(100000);
		}
	}
	if (m->extracted)
		rmtree(m->target);
	else
		rmdir(m->target);
	free(m->target);
	free(m);
}
