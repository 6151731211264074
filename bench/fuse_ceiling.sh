#!/bin/bash
# bench/fuse_ceiling.sh -- measures the "FUSE ceiling" of this machine: how
# fast dd and tar read one large file from bench/fuse_ceiling, a minimal
# in-memory FUSE filesystem, in page-cache mode (default readahead, then
# read_ahead_kb 1024 and 4096) and with direct_io.  Prints one table: median
# MB/s (10^6 bytes per second of file data) of RUNS runs with min-max, and
# the READ requests the daemon saw in the first run: count per size bucket
# (<=128K: sizes in (64K, 128K]), how many started below the highest offset
# already requested ("behind"), and bytes served more than once.  Then one
# RESULT line per cell, for bench/run.
#
#   bench/fuse_ceiling.sh [--size BYTES] [--runs N] [--timeout S] [-- DAEMON_ARGS...]
#
#   --size BYTES   size of the file (default 1G; K/M/G/T suffixes are binary)
#   --runs N       runs per cell (default 3)
#   --timeout S    limit per read (default 300 s)
#   DAEMON_ARGS    passed to fuse_ceiling, e.g. -s (single-threaded loop)
#
# Every run gets a fresh mount (unmount + mount), so the page cache of the
# file is always cold and the file is read from the daemon.  The readahead
# rows need root (the daemon writes /sys/class/bdi/MAJ:MIN/read_ahead_kb).
# Exit status 77 (skip) when FUSE cannot be used here.
#
# Environment: top_builddir (default: the directory above this script),
# MAKE (default: make), TMPDIR.
set -u

size=1G
runs=3
limit=300
daemon_args=()
while [ $# -gt 0 ]; do
	case $1 in
	--size) size=${2:?--size needs a value}; shift 2 ;;
	--size=*) size=${1#--size=}; shift ;;
	--runs) runs=${2:?--runs needs a value}; shift 2 ;;
	--runs=*) runs=${1#--runs=}; shift ;;
	--timeout) limit=${2:?--timeout needs a value}; shift 2 ;;
	--timeout=*) limit=${1#--timeout=}; shift ;;
	--) shift; daemon_args=("$@"); break ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fuse_ceiling.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case $runs in ''|*[!0-9]*|0) echo "fuse_ceiling.sh: bad --runs $runs" >&2; exit 2 ;; esac
case $limit in ''|*[!0-9]*|0) echo "fuse_ceiling.sh: bad --timeout $limit" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
top=${top_builddir:-$(dirname "$here")}
bin=$top/bench/fuse_ceiling

if [ ! -r /dev/fuse ] || [ ! -w /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
	echo "fuse_ceiling.sh: skipped: /dev/fuse not usable or fusermount3 missing" >&2
	exit 77
fi
if ! "${MAKE:-make}" -s -C "$top" bench/fuse_ceiling >&2 || [ ! -x "$bin" ]; then
	echo "fuse_ceiling.sh: cannot build $bin" >&2
	exit 1
fi
is_root=0
[ "$(id -u)" -eq 0 ] && is_root=1

work=$(mktemp -d "${TMPDIR:-/tmp}/fuse_ceiling.XXXXXX") || exit 1
mnt=$work/mnt
log=$work/daemon.log
mkdir "$mnt" || exit 1
pid=
file_bytes='?'

# umount_fs: unmounts $mnt (lazily if it is busy) and ends the daemon.
umount_fs() {
	if grep -qF " $mnt " /proc/self/mountinfo 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null
	fi
	if [ -n "$pid" ]; then
		# The daemon exits by itself once unmounted; else TERM, then KILL.
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			sleep 1
			kill -KILL "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
		pid=
	fi
}

cleanup() {
	trap - EXIT INT TERM HUP
	umount_fs
	rmdir "$mnt" 2>/dev/null
	rm -f "$log"
	rmdir "$work" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

die() {
	echo "fuse_ceiling.sh: $*" >&2
	if [ -s "$log" ]; then
		echo "--- daemon log:" >&2
		tail -n 20 "$log" >&2
	fi
	exit 1
}

# mount_fs RA_KB [DAEMON_OPTIONS...]: mounts a fresh instance on $mnt and
# waits (10 s deadline) until it answers and, if RA_KB is not "-", until
# the mount's read_ahead_kb is RA_KB.
mount_fs() {
	local want_ra=$1 dev ra deadline
	shift
	: >"$log"
	"$bin" -f "${daemon_args[@]}" "$@" --size "$size" "$mnt" 2>>"$log" &
	pid=$!
	deadline=$(($(date +%s) + 10))
	until grep -qF " $mnt " /proc/self/mountinfo && mountpoint -q "$mnt"; do
		kill -0 "$pid" 2>/dev/null || { pid=; die "the daemon exited before the mount was ready"; }
		[ "$(date +%s)" -lt "$deadline" ] || die "no mount on $mnt after 10 s"
		sleep 0.05
	done
	dev=$(mountpoint -d "$mnt") || die "mountpoint -d $mnt failed"
	ra_path=/sys/class/bdi/$dev/read_ahead_kb
	ra=$(cat "$ra_path" 2>/dev/null)
	while [ "$want_ra" != - ] && [ "$ra" != "$want_ra" ]; do
		[ "$(date +%s)" -lt "$deadline" ] || die "$ra_path is ${ra:-unreadable}, not $want_ra, after 10 s"
		sleep 0.05
		ra=$(cat "$ra_path" 2>/dev/null)
	done
	mounted_ra=$ra
}

now_ns() { date +%s%N; }

# read_once TOOL: reads $mnt/data with TOOL (dd or tar); sets elapsed_ns.
read_once() {
	local t0 t1 rc
	t0=$(now_ns)
	case $1 in
	dd)
		timeout "$limit" dd if="$mnt/data" of=/dev/null bs=1M 2>/dev/null
		rc=$?
		;;
	tar)
		# Through a pipe: GNU tar reads nothing when its archive is /dev/null.
		timeout "$limit" tar -cf - -C "$mnt" data | cat >/dev/null
		rc=${PIPESTATUS[0]}
		;;
	esac
	t1=$(now_ns)
	[ "$rc" -eq 0 ] || die "$1 failed (status $rc)"
	elapsed_ns=$((t1 - t0))
}

# summary FIELD: the daemon's count for FIELD (reads, bytes, ...) from its
# exit line; "sizes" gives the size buckets.
summary() {
	local line
	line=$(grep -F 'fuse_ceiling: init ' "$log" | tail -n 1)
	if [ "$1" = sizes ]; then
		printf '%s\n' "${line#*sizes: }"
	else
		printf '%s\n' "$line" | sed -n "s/.*[ ;]$1=\([^ ;]*\).*/\1/p"
	fi
}

# median_of "MBPS..." -> "median (min-max)"
median_of() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
		END {
			m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			if (NR == 1) printf "%.0f", m
			else printf "%.0f (%.0f-%.0f)", m, v[1], v[NR]
		}'
}

# cell TOOL RA_KB [DAEMON_OPTIONS...]: RUNS fresh mounts, one read each;
# sets cell_rate, cell_reqs, cell_ra.
cell() {
	local tool=$1 want_ra=$2 i rates=() served
	shift 2
	cell_reqs=
	for i in $(seq "$runs"); do
		mount_fs "$want_ra" "$@"
		[ "$i" -eq 1 ] && cell_ra=$mounted_ra
		file_bytes=$(stat -c %s "$mnt/data") || die "stat $mnt/data failed"
		read_once "$tool"
		umount_fs
		served=$(summary bytes)
		# More than the file is fine: the kernel may ask for a range again
		# (it drops async readahead under congestion and reads it later).
		case $served in ''|*[!0-9]*) die "$tool: no summary from the daemon" ;; esac
		[ "$served" -ge "$file_bytes" ] || die "$tool: the daemon served $served bytes of $file_bytes"
		rates+=("$(awk -v b="$file_bytes" -v ns="$elapsed_ns" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }')")
		if [ "$i" -eq 1 ]; then
			cell_reqs="$(summary sizes), behind $(summary behind)"
			[ "$served" -eq "$file_bytes" ] || cell_reqs="$cell_reqs, +$((served - file_bytes)) B again"
		fi
	done
	cell_rate=$(median_of "${rates[@]}")
}

modes=("page cache, default readahead|-||ra_default"
	"page cache, readahead=1024|1024|-o readahead=1024|ra1024"
	"page cache, readahead=4096|4096|-o readahead=4096|ra4096"
	"direct_io|-|-o direct_io|direct")

# cell_result KEY TOOL: the RESULT line of the last cell (for bench/run).
cell_result() {
	results+=("RESULT ceiling_sh.$1.$2=${cell_rate%% *} MB/s median of $runs${cell_rate#"${cell_rate%% *}"}")
}

rows=()
results=()
for m in "${modes[@]}"; do
	IFS='|' read -r title want_ra opt key <<EOF
$m
EOF
	if [ "$want_ra" != - ] && [ "$is_root" -eq 0 ]; then
		rows+=("$title	-	skipped (needs root)")
		results+=("RESULT ceiling_sh.$key.dd=- - not measured: needs root" "RESULT ceiling_sh.$key.tar=- - not measured: needs root")
		continue
	fi
	# $opt is "" or "-o VALUE": split on purpose.
	# shellcheck disable=SC2086
	cell dd "$want_ra" $opt
	dd_rate=$cell_rate dd_reqs=$cell_reqs ra=$cell_ra
	cell_result "$key" dd
	# shellcheck disable=SC2086
	cell tar "$want_ra" $opt
	cell_result "$key" tar
	rows+=("$title	$ra	$dd_rate	$dd_reqs	$cell_rate	$cell_reqs")
done

printf 'fuse_ceiling: %s bytes, median MB/s of %s runs (min-max), fresh mount per run; %s, %s CPUs, libfuse %s%s\n' \
	"$file_bytes" "$runs" "$(uname -sr)" "$(nproc)" "$(pkg-config --modversion fuse3 2>/dev/null || echo '?')" \
	"${daemon_args[*]:+, daemon args: ${daemon_args[*]}}"
{
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' mode read_ahead_kb "dd bs=1M" "dd: READ sizes" "tar -cf - | cat" "tar: READ sizes"
	printf '%s\n' "${rows[@]}"
} | awk -F'\t' '
	{ n = NR; for (i = 1; i <= NF; i++) { c[n, i] = $i; if (length($i) > w[i]) w[i] = length($i) }; if (NF > nf) nf = NF }
	END {
		for (r = 1; r <= n; r++) {
			line = ""
			for (i = 1; i <= nf; i++) line = line sprintf("%-" (w[i] + 2) "s", c[r, i])
			sub(/ +$/, "", line); print line
		}
	}'
printf '%s\n' "${results[@]}"
