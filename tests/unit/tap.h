/* tap.h - TAP output for the unit tests: ok() per check, tap_done() last */
#ifndef AVBATCH_TAP_H
#define AVBATCH_TAP_H

#include <stdio.h>

static int tap_n, tap_failed;

static void ok(int cond, const char *desc)
{
	tap_n++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, desc);
}

/* The plan line; the exit status. */
static int tap_done(void)
{
	printf("1..%d\n", tap_n);
	return tap_failed ? 1 : 0;
}

#endif
