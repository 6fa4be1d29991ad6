#!/bin/bash
# make install puts everything where avbatch looks: the binary, the
# descriptors it finds without --engines-dir, bash completion, the units,
# and the state directory it names (0700), so that the first run of the
# installed copy works.
. "$(dirname "$0")/lib.sh"
need_root
need_cmd make

plan 6
make -C "$top_builddir" install DESTDIR="$T/inst" >"$T/install.log" 2>&1
is "$?" 0 "make install DESTDIR=... succeeds"
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
lsd=$(sed -n 's/^localstatedir = //p' "$top_builddir/Makefile")
lsd=${lsd//\$\{prefix\}/$prefix}
datadir=$prefix/share
is "$(stat -c %a "$T/inst$lsd/lib/avbatch" 2>&1)" 700 \
	"the cache's directory $lsd/lib/avbatch exists, 0700"
ok "the descriptors are installed" test -f "$T/inst$datadir/avbatch/engines/clamav.ini"
ok "bash completion is installed" test -f "$T/inst$datadir/bash-completion/completions/avbatch"
ok "the binary is installed" test -x "$T/inst$prefix/bin/avbatch"
ok "the units are installed" test -n "$(find "$T/inst" -name avbatch.service)" \
	-a -n "$(find "$T/inst" -name 'avbatch-alert@.service')"
done_testing
