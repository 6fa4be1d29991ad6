/* libvirt.h - targets from libvirt domains: their disks and their state */
#ifndef AVBATCH_LIBVIRT_H
#define AVBATCH_LIBVIRT_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* One disk of a domain, as its (inactive) definition gives it. */
struct vm_disk {
	char *dev;		/* target device: vda, sdb */
	char *path;		/* the image file or block device */
	char *format;		/* the driver type libvirt gives: qcow2, raw */
	char *skip;		/* why it cannot be scanned (network disk...) */
};

struct vm {
	char *name;
	char *state;		/* virsh domstate: "shut off", "running"... */
	struct vm_disk *disks;
	size_t ndisks;
};

/* Names of the domains that are shut off, through virsh -c uri. */
int libvirt_shutoff(const char *uri, struct strv *names, char **cause);

/* A domain's state and disks (cdroms and floppies are not disks). */
int libvirt_vm(const char *uri, const char *name, struct vm **out,
	       char **cause);

bool libvirt_vm_running(const struct vm *vm);

void libvirt_vm_free(struct vm *vm);

#endif
