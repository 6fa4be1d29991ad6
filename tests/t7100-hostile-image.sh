#!/bin/bash
# What qemu opens for a guest image (issue #13): a qcow2 header naming a
# host file as external data file, a vmdk descriptor naming a FIFO, and a
# backing file swapped for a symlink (renameat2 RENAME_EXCHANGE) while
# avbatch opens it.  The attacker's part is played by nobody.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/fixtures.sh"
need_root
need_cmd qemu-img qemu-storage-daemon clamscan jq mkfs.ext4 setpriv cc

plan 15

NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)

run() {
	"$AVBATCH" --engines-dir "$top_srcdir/engines" --state-dir "$T/state" \
		run -o clamav.database="$T/sigs" --report "$T/report.json" "$@" \
		>"$T/out" 2>"$T/err"
}

status() {
	jq -r '.targets[0] | [.status, .reason // ""] | @tsv' "$T/report.json"
}

# An ext4 image at $1 labelled $2 holding $3 (an EICAR file), or empty.
mkfs_with() {
	rm -rf "$T/tree" && mkdir -p "$T/tree" &&
	{ [ -z "$3" ] || fx_eicar "$T/tree/$3"; } &&
	truncate -s 16M "$1" && mkfs.ext4 -q -F -L "$2" -d "$T/tree" "$1"
}

# A qcow2 at $1 whose raw external data file is named $2 (made with a scratch
# data file, then renamed: qemu-img create would empty the file it names).
qcow2_with_data() {
	(cd "$(dirname "$1")" &&
	 qemu-img create -q -f qcow2 -o data_file=.scratch,data_file_raw=on \
		"$(basename "$1")" 16M &&
	 qemu-img amend -q -f qcow2 -o data_file="$2" "$(basename "$1")" &&
	 rm -f .scratch)
}

chmod 0711 "$T"
fx_sigdb "$T/sigs" || bail_out "cannot write the test signatures"
mkdir -p "$T/host" "$T/img" "$T/race" "$T/secret"
chmod 0700 "$T/secret"
mkfs_with "$T/host/hostonly.raw" HOSTONLY HOST-ONLY-eicar.com ||
	bail_out "mkfs failed"
sha_host=$(sha256sum <"$T/host/hostonly.raw")

# 1. A raw disk whose first sector holds a qcow2 header with an external
# data file (raw) that is a host file.
qcow2_with_data "$T/img/evil.raw" "$T/host/hostonly.raw" ||
	bail_out "qemu-img failed"
run "$T/img/evil.raw"
is "$?" 2 "a qcow2 header naming a host file as data file: exit 2"
like "$(status)" '^error	refusing .*hostonly\.raw.*outside' \
	"the data file outside the image's directory is refused"
is "$(jq '[.targets[].detections[]?] | length' "$T/report.json")" 0 \
	"and nothing of the host file is scanned"

# The same data file reached through a symlink in the image's directory.
ln -s "$T/host/hostonly.raw" "$T/img/data.link"
qcow2_with_data "$T/img/link.raw" data.link || bail_out "qemu-img failed"
run "$T/img/link.raw"
like "$(status)" '^error	refusing .*data\.link.*not a regular file' \
	"a data file that is a symlink is refused"

# A data file that is a regular file beside the image is read (pinned).
mkfs_with "$T/img/beside.data" BESIDE eicar.com || bail_out "mkfs failed"
qcow2_with_data "$T/img/good.qcow2" beside.data || bail_out "qemu-img failed"
run "$T/img/good.qcow2"
is "$(jq -r '.targets[0] | [.status, (.detections[]?.path)] | @tsv' "$T/report.json")" \
	"infected	/eicar.com" "a data file beside the image is scanned"
is "$(sha256sum <"$T/host/hostonly.raw")" "$sha_host" "the host file is unchanged"

# 2. A raw disk that begins with a vmdk descriptor naming a FIFO that an
# unprivileged user made (and waits to write to).  qemu must never open it.
chown nobody:nogroup "$T/img"
"${NOBODY[@]}" mkfifo "$T/img/pipe" || bail_out "mkfifo failed"
{
	printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
	printf 'parentCID=ffffffff\ncreateType="monolithicFlat"\n\n'
	printf 'RW 32768 FLAT "pipe" 0\n'
} >"$T/img/fifo.raw"
truncate -s 16M "$T/img/fifo.raw"
# (Started directly, not from a function: $! is then the writer itself.)
"${NOBODY[@]}" sh -c 'exec 3>"$1"; echo opened >"$2"' sh "$T/img/pipe" \
	"$T/img/opened" >/dev/null 2>&1 &
writer=$!
at_exit kill "$writer"
start=$SECONDS
run "$T/img/fifo.raw"
like "$(status)" '^error	refusing .*pipe.*not a regular file' \
	"a vmdk extent that is a FIFO is refused"
ok_not "and nobody opened the FIFO (its writer still waits)" \
	test -e "$T/img/opened"
ok "without waiting on it" test $((SECONDS - start)) -lt 30
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null

# The same extent split over two lines (qemu's sscanf reads on) is refused.
{
	printf '# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\n'
	printf 'RW 32768 FLAT\n"pipe" 0\n'
} >"$T/img/split.raw"
truncate -s 16M "$T/img/split.raw"
run "$T/img/split.raw"
like "$(status)" '^error	refusing .*split\.raw.*unreadable extent line' \
	"an extent line split over two lines is refused"

# A vmdk descriptor whose extent is a regular file beside it is read.
qemu-img convert -O vmdk -o subformat=monolithicFlat "$T/img/beside.data" \
	"$T/img/flat.vmdk" || bail_out "qemu-img convert failed"
run "$T/img/flat.vmdk"
is "$(jq -r '.targets[0] | [.status, (.detections[]?.path)] | @tsv' "$T/report.json")" \
	"infected	/eicar.com" "a vmdk's extent beside its descriptor is scanned"

# 3. A backing file swapped with a symlink to a root-only image, in a
# directory its owner (nobody) writes, while avbatch opens the chain.
chmod 0755 "$T/race"
mkfs_with "$T/secret/secret.raw" SECRET eicar.com || bail_out "mkfs failed"
mkfs_with "$T/race/base.raw" BASE '' || bail_out "mkfs failed"
(cd "$T/race" && qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2) ||
	bail_out "qemu-img create failed"
ln -s "$T/secret/secret.raw" "$T/race/evil"
chown -h nobody:nogroup "$T/race" "$T/race/base.raw" "$T/race/top.qcow2" \
	"$T/race/evil"
cat >"$T/swap.c" <<'EOF'
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* Exchange argv[1] and argv[2] until argv[3] exists; count to argv[4]. */
int main(int argc, char **argv)
{
	unsigned long n = 0;
	FILE *f;

	if (argc != 5)
		return 2;
	while (access(argv[3], F_OK) != 0)
		if (renameat2(AT_FDCWD, argv[1], AT_FDCWD, argv[2],
			      RENAME_EXCHANGE) == 0)
			n++;
	f = fopen(argv[4], "w");
	if (!f)
		return 1;
	fprintf(f, "%lu\n", n);
	return fclose(f) != 0;
}
EOF
${CC:-cc} -O2 -o "$T/swap" "$T/swap.c" || bail_out "cannot build the swapper"
chmod 0755 "$T/swap"
"${NOBODY[@]}" "$T/swap" "$T/race/base.raw" "$T/race/evil" "$T/race/stop" \
	"$T/race/count" >/dev/null 2>&1 &
swapper=$!
at_exit kill "$swapper"
: >"$T/labels"
for ((i = 0; i < 16; i++)); do
	"$AVBATCH" --state-dir "$T/state" inspect --json "$T/race/top.qcow2" \
		>"$T/inspect.json" 2>>"$T/inspect.err"
	jq -r '.[0] | [.status, (.filesystems[]?.label // "-")] | @tsv' \
		"$T/inspect.json" >>"$T/labels"
done
touch "$T/race/stop"
wait "$swapper"
ok "the swapper made at least 200 exchanges during the runs" \
	test "$(cat "$T/race/count" 2>/dev/null || echo 0)" -ge 200
unlike "$(cat "$T/labels")" 'SECRET' \
	"the root-only image behind the symlink is never read"
like "$(cat "$T/labels")" 'ready	BASE' \
	"the backing file is read when the regular file was opened"

is "$(leftovers)" "" "nothing left behind"
done_testing
