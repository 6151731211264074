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
#   fs_mount SOCK MNT       jetfs -f, waits for the mount
#   fs_unmount              the backup must end normally (jetfs exits 0)
#   result KEY VALUE UNIT [NOTE]   a RESULT line for bench/run
# The sourcing script sets bench_name, JETLOAD, JETFS first.

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
