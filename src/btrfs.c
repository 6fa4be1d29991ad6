/* btrfs.c - the subvolumes of a btrfs mounted at its top level */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "btrfs.h"

/* The top level's id: subvolid=5. */
#define TOP_LEVEL_ID	5

/* Open name below dirfd (O_PATH without symlinks: guest data). */
static int open_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
			   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};

	return (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
}

/*
 * The default subvolume's id: the root tree's dir item "default" (what
 * "btrfs subvolume get-default" reads; no ioctl returns it directly).
 */
static int default_id(int fd, uint64_t *id)
{
	struct btrfs_ioctl_search_args args;
	struct btrfs_ioctl_search_key *sk = &args.key;
	size_t off = 0;

	memset(&args, 0, sizeof(args));
	sk->tree_id = BTRFS_ROOT_TREE_OBJECTID;
	sk->min_objectid = sk->max_objectid = BTRFS_ROOT_TREE_DIR_OBJECTID;
	sk->min_type = sk->max_type = BTRFS_DIR_ITEM_KEY;
	sk->max_offset = UINT64_MAX;
	sk->max_transid = UINT64_MAX;
	sk->nr_items = 16;
	if (ioctl(fd, BTRFS_IOC_TREE_SEARCH, &args) < 0)
		return -errno;
	for (uint32_t i = 0; i < sk->nr_items; i++) {
		struct btrfs_ioctl_search_header sh;
		struct btrfs_dir_item di;

		if (off + sizeof(sh) > sizeof(args.buf))
			break;
		memcpy(&sh, args.buf + off, sizeof(sh));
		off += sizeof(sh);
		if (sh.len > sizeof(args.buf) - off)
			break;
		if (sh.type == BTRFS_DIR_ITEM_KEY && sh.len >= sizeof(di)) {
			memcpy(&di, args.buf + off, sizeof(di));
			if (le16toh(di.name_len) == 7 &&
			    sizeof(di) + 7 <= sh.len &&
			    !memcmp(args.buf + off + sizeof(di), "default",
				    7)) {
				*id = le64toh(di.location.objectid);
				return 0;
			}
		}
		off += sh.len;
	}
	return -ENOENT;
}

/* Strip leading slashes: fstab's subvol= is relative to the top level. */
static const char *rel_path(const char *p)
{
	while (*p == '/')
		p++;
	return p;
}

static struct btrfs_subvol *find_subvol(struct btrfs_layout *l,
					const char *path, uint64_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (path ? !strcmp(l->v[i].path, rel_path(path)) :
			   l->v[i].id == id)
			return &l->v[i];
	return NULL;
}

/*
 * Read the guest's /etc/fstab (in the default subvolume at dfd, never
 * through a symlink) with libmount: where it mounts which subvolume.
 */
static void read_fstab(int dfd, const char *uuid, struct btrfs_layout *l)
{
	struct libmnt_table *tb = NULL;
	struct libmnt_iter *itr = NULL;
	struct libmnt_fs *fs;
	FILE *f = NULL;
	int fd;

	fd = open_beneath(dfd, "etc/fstab", O_RDONLY | O_NOCTTY |
			  O_NONBLOCK);
	if (fd < 0)
		return;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	tb = mnt_new_table();
	itr = mnt_new_iter(MNT_ITER_FORWARD);
	if (!tb || !itr || mnt_table_parse_stream(tb, f, "fstab") < 0)
		goto done;
	while (mnt_table_next_fs(tb, itr, &fs) == 0) {
		const char *target = mnt_fs_get_target(fs);
		const char *tag, *id_tag;
		struct btrfs_subvol *sv = NULL;
		char *v = NULL, *val;
		size_t len;

		if (!target || *target != '/' ||
		    !mnt_fs_match_fstype(fs, "btrfs"))
			continue;
		if (mnt_fs_get_tag(fs, &tag, &id_tag) == 0 && uuid &&
		    !strcmp(tag, "UUID") && strcasecmp(id_tag, uuid))
			continue;
		if (mnt_fs_get_option(fs, "subvol", &val, &len) == 0 &&
		    val) {
			v = xstrndup(val, len);
			sv = find_subvol(l, v, 0);
		} else if (mnt_fs_get_option(fs, "subvolid", &val,
					     &len) == 0 && val) {
			char *end;
			unsigned long long id;

			v = xstrndup(val, len);
			errno = 0;
			id = strtoull(v, &end, 10);
			if (!errno && !*end)
				sv = find_subvol(l, NULL, id);
		}
		free(v);
		if (sv && !sv->mounted_at)
			sv->mounted_at = xstrdup(target);
	}
done:
	mnt_free_iter(itr);
	mnt_unref_table(tb);
	fclose(f);
}

int btrfs_read_layout(const char *mnt, const struct strv *roots,
		      const char *uuid, struct btrfs_layout *l, char **cause)
{
	static const unsigned char zero[BTRFS_UUID_SIZE];
	uint64_t def = TOP_LEVEL_ID;
	struct btrfs_subvol *root;
	int top, fd, r;

	memset(l, 0, sizeof(*l));
	top = open(mnt, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (top < 0) {
		r = -errno;
		*cause = xasprintf("cannot open '%s': %s", mnt,
				   strerror(errno));
		return r;
	}
	r = default_id(top, &def);
	if (r < 0) {
		*cause = xasprintf("cannot read the default subvolume: %s",
				   strerror(-r));
		goto done;
	}
	l->v = xcalloc(roots->n + 1, sizeof(*l->v));
	for (size_t i = 0; i < roots->n; i++) {
		struct btrfs_ioctl_get_subvol_info_args info;
		struct btrfs_subvol *sv = &l->v[l->n];

		fd = open_beneath(top, rel_path(roots->v[i]),
				  O_RDONLY | O_DIRECTORY);
		memset(&info, 0, sizeof(info));
		if (fd < 0 || ioctl(fd, BTRFS_IOC_GET_SUBVOL_INFO,
				    &info) < 0) {
			r = -errno;
			*cause = xasprintf("cannot read subvolume '%s': %s",
					   roots->v[i], strerror(errno));
			if (fd >= 0)
				close(fd);
			goto done;
		}
		sv->path = xstrdup(rel_path(roots->v[i]));
		sv->id = info.treeid;
		/* The root item's flags, not the ioctls' BTRFS_SUBVOL_*. */
		sv->readonly = info.flags & BTRFS_ROOT_SUBVOL_RDONLY;
		sv->snapshot = memcmp(info.parent_uuid, zero, sizeof(zero));
		l->n++;
		close(fd);
	}
	/* The guest's root: the default subvolume (or the top level). */
	root = def == TOP_LEVEL_ID ? NULL : find_subvol(l, NULL, def);
	if (root)
		root->mounted_at = xstrdup("/");
	fd = root ? open_beneath(top, root->path, O_RDONLY | O_DIRECTORY) :
	     def == TOP_LEVEL_ID ? fcntl(top, F_DUPFD_CLOEXEC, 0) : -1;
	if (fd >= 0) {
		read_fstab(fd, uuid, l);
		close(fd);
	}
	r = 0;
done:
	close(top);
	return r;
}

/* Is prefix (a subvolume path) path or a directory above it? */
static size_t under(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);

	return !strncmp(path, prefix, n) && (!path[n] || path[n] == '/') ?
	       n : 0;
}

char *btrfs_guest_path(const struct btrfs_layout *l, const char *path,
		       const struct btrfs_subvol **subvol)
{
	const struct btrfs_subvol *in = NULL, *mounted = NULL;
	size_t in_len = 0, m_len = 0;
	const char *rel = rel_path(path), *rest;

	for (size_t i = 0; i < l->n; i++) {
		size_t n = under(rel, l->v[i].path);

		if (n > in_len) {
			in = &l->v[i];
			in_len = n;
		}
		if (n > m_len && l->v[i].mounted_at) {
			mounted = &l->v[i];
			m_len = n;
		}
	}
	*subvol = in;
	if (!mounted)
		return xstrdup(path);
	rest = rel + m_len;
	if (!strcmp(mounted->mounted_at, "/"))
		return xstrdup(*rest ? rest : "/");
	return xasprintf("%s%s", mounted->mounted_at, rest);
}

void btrfs_layout_release(struct btrfs_layout *l)
{
	for (size_t i = 0; l && i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].mounted_at);
	}
	if (l)
		free(l->v);
	if (l)
		memset(l, 0, sizeof(*l));
}
