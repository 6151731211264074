# tests/fslib.sh -- helpers for the tests that mount jetfs (sourced after lib.sh).
# Every mount is under the test's private directory $T, waited for with a
# deadline, checked for a dead daemon, and always unmounted on exit
# (fusermount3 -u, then -u -z, then the daemon is killed).
JETFS="$top_builddir/fs/jetfs"
JETFS_PIDS=""

# Skips the test (exit 77) when FUSE cannot be used here.
fs_require_fuse() {
	[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse" >&2; exit 77; }
	command -v fusermount3 >/dev/null 2>&1 || { echo "SKIP: no fusermount3 (package fuse3)" >&2; exit 77; }
}

# fs_mount SOCKET MNT [jetfs options...]: starts jetfs -f in the background,
# its stderr in MNT.err, and waits (10 s at most) until MNT is mounted.
# Sets FS_PID.
fs_mount() {
	_sock=$1 _mnt=$2
	shift 2
	mkdir -p "$_mnt"
	"$JETFS" -f "$@" "$_sock" "$_mnt" 2>"$_mnt.err" &
	FS_PID=$!
	JETFS_PIDS="$JETFS_PIDS $FS_PID"
	_i=0
	until mountpoint -q "$_mnt"; do
		kill -0 "$FS_PID" 2>/dev/null || fail "jetfs died before mounting $_mnt: $(cat "$_mnt.err")"
		_i=$((_i + 1))
		[ "$_i" -lt 100 ] || fail "jetfs did not mount $_mnt within 10 s"
		sleep 0.1
	done
}

# fs_unmount MNT: unmounts and waits (30 s at most) for the daemon FS_PID to
# exit; FS_STATUS is its exit status (0 normal end, 2 abort; jetfs(1)).
fs_unmount() {
	_mnt=$1
	fusermount3 -u "$_mnt" 2>/dev/null || fusermount3 -u -z "$_mnt" 2>/dev/null ||
		fail "cannot unmount $_mnt"
	_i=0
	while kill -0 "$FS_PID" 2>/dev/null; do
		_i=$((_i + 1))
		[ "$_i" -lt 300 ] || fail "jetfs did not exit within 30 s of the unmount of $_mnt"
		sleep 0.1
	done
	FS_STATUS=0
	wait "$FS_PID" || FS_STATUS=$?
	# reaped: never signal that pid again (it may be reused)
	JETFS_PIDS=$(echo "$JETFS_PIDS" | sed "s/ $FS_PID\b//")
}

# Unmounts whatever is still mounted under $T and kills the daemons (trap).
# A daemon that reported a sanitizer error or crashed leaves its stderr in the
# test's log: a dead mount ("Transport endpoint is not connected") says why.
fs_cleanup() {
	for e in "$T"/*.err "$T"/*/*.err; do
		[ -f "$e" ] || continue
		if grep -q 'Sanitizer\|runtime error\|fuse: \|Segmentation' "$e" 2>/dev/null; then
			echo "---- $e" >&2
			head -60 "$e" >&2
		fi
	done
	grep -o " $T/[^ ]*" /proc/self/mountinfo 2>/dev/null | while read -r m; do
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	for p in $JETFS_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $JETFS_PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
}
