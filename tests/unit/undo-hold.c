/*
 * undo-hold JOBDIR WORKDIR IMAGE [FORMAT] - for the undo tests (the clean
 * pipeline will do this itself): take an undo point of IMAGE in JOBDIR,
 * attach it writable, print the view's path, and hold it until standard
 * input ends; then detach and commit the undo point.  Exit 0, or 1 with
 * the cause on stderr.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "image.h"
#include "mount.h"
#include "undo.h"

int main(int argc, char **argv)
{
	struct image *img = NULL;
	struct undo *u = NULL;
	struct attach *a = NULL;
	char *cause = NULL, c;
	int r;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: undo-hold JOBDIR WORKDIR IMAGE "
			"[FORMAT]\n");
		return 2;
	}
	r = image_open(argv[3], argc > 4 ? argv[4] : NULL, &img, &cause);
	if (r == 0)
		r = undo_begin(img, argv[1], &u, &cause);
	if (r == 0)
		r = mount_attach_writable(img, argv[2], undo_file(u), &a,
					  &cause);
	if (r < 0)
		goto done;
	printf("%s\n", mount_attach_view(a));
	fflush(stdout);
	while (read(0, &c, 1) > 0)
		;
	mount_detach(a);
	a = NULL;
	r = undo_commit(u, &cause);
done:
	if (r < 0)
		fprintf(stderr, "undo-hold: %s\n", cause);
	mount_detach(a);
	undo_free(u);
	image_free(img);
	free(cause);
	return r < 0;
}
