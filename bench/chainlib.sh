# bench/chainlib.sh -- what the benchmarks that drive a live bank through
# jetfs share (bench_chain.sh, bench_delta.sh): a private work directory
# removed on exit with every process and mount, and
#   die MSG                 the message, the tail of every log, exit 1
#   now_ns, secs_since T0   wall clock
#   bytes_of PATH           du -sb
#   peak_rss_mib PID        VmHWM
#   generations DIR         closed log generations of the bank in DIR
#   wait_for PID WHAT CMD   polls CMD for 10 s while PID lives
#   bank_serve DIR SOCK     jetload run at 100 transfers/s serving SOCK
#   bank_stop               SIGTERM; jetload must exit 0
#   bank_load DIR MIB KB    jetload run --lazy until MIB MiB more of log
#   fs_mount SOCK MNT       jetfs -f, waits for the mount
#   fs_unmount              the backup must end normally (jetfs exits 0)
#   result KEY VALUE UNIT [NOTE]   a RESULT line for bench/run
# The sourcing script sets here (its directory) and bench_name first; this
# sets top, JETLOAD, JETUTIL, JETFS, and exits 1 if one is not built, 77 if
# FUSE cannot be used.

top=${top_builddir:-$(dirname "$here")}
JETLOAD=$top/tools/jetload/jetload
JETUTIL=$top/tools/jetutil/jetutil
JETFS=$top/fs/jetfs
for b in "$JETLOAD" "$JETUTIL" "$JETFS"; do
	[ -x "$b" ] || { echo "$bench_name.sh: $b is not built" >&2; exit 1; }
done
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
	echo "$bench_name.sh: skipped: /dev/fuse not usable or fusermount3 missing" >&2
	exit 77
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/$bench_name.XXXXXX") || exit 1
bank_pid=
fs_pid=
mnt=

cleanup() {
	trap - EXIT INT TERM HUP
	if [ -n "$mnt" ] && grep -qF " $mnt " /proc/self/mountinfo 2>/dev/null; then
		fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null
	fi
	for p in $fs_pid $bank_pid; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.2
	for p in $fs_pid $bank_pid; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

die() {
	echo "$bench_name.sh: $*" >&2
	for f in "$work"/*.log "$work"/*.err; do
		[ -s "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }
	done
	exit 1
}

now_ns() { date +%s%N; }
secs_since() { awk -v a="$1" -v b="$(now_ns)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
bytes_of() { du -sb "$1" | awk '{ print $1 }'; }
peak_rss_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
# Closed log generations of the bank in $1 (edbXXXXX.log, hexadecimal).
generations() {
	n=0
	for f in "$1"/edb[0-9A-F][0-9A-F][0-9A-F][0-9A-F][0-9A-F]*.log; do
		[ -e "$f" ] && n=$((n + 1))
	done
	echo "$n"
}

# wait_for PID WHAT COMMAND...: polls COMMAND until it succeeds, for 10 s,
# while PID lives; dies saying WHAT did not happen otherwise.
wait_for() {
	wpid=$1 what=$2
	shift 2
	i=0
	until "$@"; do
		kill -0 "$wpid" 2>/dev/null || die "$what: the process exited first"
		i=$((i + 1))
		[ "$i" -lt 200 ] || die "$what: not within 10 s"
		sleep 0.05
	done
}

serving() { [ -S "$1" ] && grep -q '^running on' "$work/bank.log"; }

# bank_serve DIR SOCK: jetload run serving SOCK at 100 transfers/s; waits for
# the socket (10 s).  Sets bank_pid; its output in $work/bank.log.
bank_serve() {
	"$JETLOAD" run "$1" --socket "$2" --rate 100 >"$work/bank.log" 2>&1 &
	bank_pid=$!
	wait_for "$bank_pid" "jetload run $1 serving $2" serving "$2"
}

# bank_stop: SIGTERM, and jetload must stop cleanly (status 0).
bank_stop() {
	kill -TERM "$bank_pid" 2>/dev/null
	rc=0
	wait "$bank_pid" || rc=$?
	bank_pid=
	[ "$rc" -eq 0 ] || die "jetload run exited with status $rc"
}

# fs_mount SOCK MNT: jetfs -f in the background, waits for the mount (10 s).
fs_mount() {
	mnt=$2
	mkdir -p "$mnt"
	"$JETFS" -f "$1" "$mnt" 2>"$work/jetfs.err" &
	fs_pid=$!
	wait_for "$fs_pid" "jetfs mounting $mnt" mountpoint -q "$mnt"
}

# fs_unmount: the backup must end normally (jetfs exits 0; 2 is an abort).
fs_unmount() {
	fusermount3 -u "$mnt" 2>/dev/null || fusermount3 -u -z "$mnt" 2>/dev/null || die "cannot unmount $mnt"
	rc=0
	wait "$fs_pid" || rc=$?
	fs_pid=
	mnt=
	[ "$rc" -eq 0 ] || die "jetfs exited with status $rc: the backup did not end normally"
}

result() { echo "RESULT $1=$2 $3${4:+ $4}"; }

# bank_load DIR MIB LOG_KB [ARGS...]: jetload run DIR --lazy ARGS, as fast as
# the bank goes, until MIB MiB more of log generations (of LOG_KB KiB) are
# closed (600 s at most); its output in $work/load.log.
bank_load() {
	dir=$1 want_mib=$2 gen_kb=$3
	shift 3
	g0=$(generations "$dir")
	want=$(((want_mib * 1024 + gen_kb - 1) / gen_kb))
	"$JETLOAD" run "$dir" --lazy "$@" >"$work/load.log" 2>&1 &
	bank_pid=$!
	i=0
	while [ "$(generations "$dir")" -lt $((g0 + want)) ]; do
		kill -0 "$bank_pid" 2>/dev/null || { bank_pid=; die "jetload run (load) exited early"; }
		i=$((i + 1))
		[ "$i" -lt 60000 ] || die "no $want_mib MiB of log after 600 s"
		sleep 0.01
	done
	bank_stop
}
