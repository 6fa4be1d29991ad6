#!/bin/bash
# build.sh - install what avbatch needs (Debian 12), build it, and run the
# demo or the whole test suite.  Must run as root (it apt-gets, mounts).
#
#   ./build.sh demo    install, build, scan two demo disks with test signatures
#   ./build.sh check   install, build, run every test (what CI runs)
#   ./build.sh deps    install the packages only
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
	# build
	autoconf automake libtool pkg-config make gcc clang
	libmount-dev libfdisk-dev libblkid-dev libinih-dev libjson-c-dev
	libxml2-dev libvirt-clients libssl-dev libsqlite3-dev libsystemd-dev libpq-dev
	# images, partitions, file systems (FUSE drivers where the kernel lacks one)
	qemu-utils qemu-system-common qemu-block-extra fuse3 util-linux fdisk
	e2fsprogs xfsprogs btrfs-progs dosfstools mtools ntfs-3g fusefat
	exfat-fuse exfatprogs cryptsetup-bin lvm2
	# engines and test data
	clamav clamav-testfiles clamdscan clamav-daemon yara chkrootkit
	# tests (a real libvirtd, and qemu to run a domain that holds its disk)
	jq attr procps mount tar gzip groff-base socat libvirt-daemon-system
	qemu-system-x86 tini
	# fleets, reports, metrics (Ansible, PostgreSQL, Chromium, promtool)
	chromium prometheus ansible ansible-lint postgresql
	valgrind
	# engines selftest and the archive-member tests (a stored zip)
	zip
)

deps() {
	if [ "$(id -u)" != 0 ]; then
		echo "build.sh: run as root (apt-get, loop devices, mounts)" >&2
		exit 2
	fi
	export DEBIAN_FRONTEND=noninteractive
	local have
	have=$(dpkg-query -W -f='${db:Status-Status}\n' "${PACKAGES[@]}" \
		2>/dev/null | grep -c '^installed$' || true)
	[ "$have" = "${#PACKAGES[@]}" ] && return 0
	apt-get update -qq
	apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
		"${PACKAGES[@]}" >/dev/null
}

build() {
	[ -x configure ] || ./autogen.sh >/dev/null 2>&1
	[ -f Makefile ] || ./configure --enable-werror --prefix=/usr \
		--sysconfdir=/etc --localstatedir=/var >/dev/null
	make -j"$(nproc)" >/dev/null
}

# The whole suite again in an ASan + UBSan build (configure
# --enable-sanitizers), out of tree in build-asan/.  The source tree is
# configured for the normal build, and automake refuses a VPATH build of a
# configured tree, so the sanitizer build is of the release tarball.
check_sanitizers() {
	local dir=build-asan tarball
	rm -rf "$dir"
	make dist >/dev/null || return 1
	tarball=$(ls -t avbatch-*.tar.gz | head -1)
	mkdir -p "$dir/build"
	tar -C "$dir" -xzf "$tarball"
	(cd "$dir/build" && "../${tarball%.tar.gz}/configure" \
		--enable-sanitizers --prefix=/usr --sysconfdir=/etc \
		--localstatedir=/var >/dev/null &&
		make -j"$(nproc)" >/dev/null && make -j1 check)
}

# Run make check (normal and sanitizer builds) and close with the plain
# "N passed, N failed" line, counting the TAP results of both.
check() {
	local log asanlog rc=0 pass fail
	log=$(mktemp)
	asanlog=$(mktemp)
	make -j1 check 2>&1 | tee "$log" || rc=$?
	make check-style || rc=1
	# The tarball builds and passes its tests outside the source tree;
	# its shell tests run out of tree in the sanitizer build below.
	make distcheck TESTS='tests/unit/test-util tests/unit/test-engine' \
		>/dev/null 2>&1 || { echo "distcheck: FAILED"; rc=1; }
	echo "== sanitizer build (ASan + UBSan): make check"
	check_sanitizers 2>&1 | tee "$asanlog" || rc=1
	grep -q '^# PASS:' "$asanlog" || { echo "sanitizer build: FAILED"; rc=1; }
	if command -v clang >/dev/null; then
		local fuzzlog
		fuzzlog=$(mktemp)
		if ! make fuzz FUZZ_SECONDS=${FUZZ_SECONDS:-15} >"$fuzzlog" 2>&1; then
			echo "fuzz: FAILED; its last lines:"
			tail -n 40 "$fuzzlog" | sed 's/^/fuzz: | /'
			rc=1
		fi
		rm -f "$fuzzlog"
	fi
	pass=$(for f in "$log" "$asanlog"; do
		awk '/^# PASS:/ {n = $3} END {print n+0}' "$f"; done |
		awk '{n += $1} END {print n+0}')
	fail=$(cat "$log" "$asanlog" |
		awk '/^# (FAIL|ERROR|XPASS):/ {n += $3} END {print n+0}')
	rm -f "$log" "$asanlog"
	[ "$rc" = 0 ] || [ "$fail" != 0 ] || fail=1
	echo "${pass:-0} passed, ${fail} failed"
	[ "$fail" = 0 ]
}

case "${1:-}" in
deps)	deps ;;
demo)	deps; build; tests/demo.sh "$PWD/src/avbatch" ;;
check)	deps; build; check ;;
*)	echo "usage: $0 demo|check|deps" >&2; exit 2 ;;
esac
