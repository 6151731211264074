#!/bin/sh
# bench/bench_hold.sh -- what a held backup costs (issue 15): a live bank
# under load, its commits per second measured in windows of S seconds:
#
#   bench/bench_hold.sh [--accounts N] [--seconds S]
#
#   alone     no backup;
#   running   a point-in-time backup begun through jetfs (listed, not read);
#   held      the same backup after jetfs was killed (kill -9): the instance
#             holds it for a takeover (JET_paramJetfsBackupHoldTime);
#   after     no backup again (the takeover's mount unmounted: an abort).
# And the takeover itself: the milliseconds from `jetfs -o resume` to a
# listing of the held set, the kept images written while held (MiB/s of the
# spill file, as allocated on disk), the instance's RSS before and while held,
# and the client area jetfs keeps for the set (one bit per 4 KiB).
#
# Figures only, plus RESULT lines for bench/run; exit status 1 if a step
# fails (a mount, a takeover), 77 if FUSE cannot be used.
# Environment: top_builddir (default: the directory above this script), TMPDIR.
set -u

accounts=400000
seconds=5
while [ $# -gt 0 ]; do
	case $1 in
	--accounts) accounts=${2:?--accounts needs a value}; shift 2 ;;
	--seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_hold.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
top=${top_builddir:-$(cd "$(dirname "$0")/.." && pwd)}
JETLOAD=$top/tools/jetload/jetload
JETFS=$top/fs/jetfs
[ -c /dev/fuse ] && command -v fusermount3 >/dev/null 2>&1 || { echo "bench_hold.sh: no FUSE here" >&2; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/bench_hold.XXXXXX") || exit 1
app=""
fs=""
cleanup() {
	for m in "$T/m1" "$T/m2"; do
		mountpoint -q "$m" 2>/dev/null && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m"; }
	done
	[ -n "$fs" ] && kill -KILL "$fs" 2>/dev/null
	[ -n "$app" ] && kill -TERM "$app" 2>/dev/null && wait "$app" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
die() { echo "bench_hold.sh: $*" >&2; exit 1; }

last_commits() { grep -o 'commits=[0-9]*' "$T/run.out" | tail -1 | cut -d= -f2; }
now_ms() { date +%s%3N; }
# window NAME: commits/s over the next $seconds seconds, as the bank reported them.
window() {
	c0=$(last_commits)
	t0=$(now_ms)
	sleep "$seconds"
	c1=$(last_commits)
	t1=$(now_ms)
	echo "$(( (c1 - c0) * 1000 / (t1 - t0) ))"
}
spill_bytes() { du -B1 -c "$T"/bank/*.jfsbk 2>/dev/null | tail -1 | cut -f1; }
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$app/status"; }
mount_wait() {
	i=0
	until mountpoint -q "$1"; do
		kill -0 "$2" 2>/dev/null || die "jetfs died before mounting $1: $(cat "$1.err")"
		i=$((i + 1))
		[ "$i" -lt 200 ] || die "jetfs did not mount $1 within 20 s"
		sleep 0.05
	done
}

"$JETLOAD" create "$T/bank" --accounts "$accounts" >/dev/null || die "jetload create"
"$JETLOAD" run "$T/bank" --threads 2 --socket "$T/bank/bk.sock" --hold-time 600 >"$T/run.out" 2>"$T/run.err" &
app=$!
i=0
until [ -S "$T/bank/bk.sock" ] && [ -n "$(last_commits)" ]; do
	kill -0 "$app" 2>/dev/null || die "jetload run died: $(cat "$T/run.err")"
	i=$((i + 1))
	[ "$i" -lt 400 ] || die "the bank did not start within 20 s"
	sleep 0.05
done
db_mib=$(( $(stat -c %s "$T/bank/bank0.edb") / 1048576 ))
sleep 1

alone=$(window)
rss_alone=$(rss_kib)
mkdir -p "$T/m1" "$T/m2"
"$JETFS" -f "$T/bank/bk.sock" "$T/m1" 2>"$T/m1.err" &
fs=$!
mount_wait "$T/m1" "$fs"
ls "$T/m1/backup/full" >/dev/null || die "listing: $(cat "$T/m1.err")"
set_bytes=$(du -cb "$T/m1/backup/full/"*.edb "$T/m1/backup/full/"*.log | tail -1 | cut -f1)
running=$(window)
kill -KILL "$fs"
wait "$fs" 2>/dev/null
fs=""
fusermount3 -u -z "$T/m1"
i=0
until grep -q "vanished; held" "$T/run.err"; do
	i=$((i + 1))
	[ "$i" -lt 200 ] || die "the instance did not hold the backup: $(tail -3 "$T/run.err")"
	sleep 0.05
done
k0=$(spill_bytes)
t0=$(now_ms)
held=$(window)
k1=$(spill_bytes)
t1=$(now_ms)
rss_held=$(rss_kib)
kept_rate=$(awk -v a="$k0" -v b="$k1" -v ms="$((t1 - t0))" 'BEGIN { printf "%.1f", (b - a) / 1048576 / (ms / 1000) }')

t0=$(now_ms)
"$JETFS" -f -o resume "$T/bank/bk.sock" "$T/m2" 2>"$T/m2.err" &
fs=$!
mount_wait "$T/m2" "$fs"
ls "$T/m2/backup/full" >/dev/null || die "listing after the takeover: $(cat "$T/m2.err")"
t1=$(now_ms)
takeover_ms=$((t1 - t0))
grep -q "resumed" "$T/m2/backup/status" || die "the mount did not take the backup over: $(cat "$T/m2/backup/status")"
fusermount3 -u "$T/m2"
wait "$fs" 2>/dev/null
fs=""
after=$(window)
area=$(( (set_bytes + 4095) / 4096 / 8 ))

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "x%.2f", b ? a / b : 0 }'; }
echo "bank: $accounts accounts, bank0.edb $db_mib MiB; 2 threads, durable commits; windows of $seconds s"
printf '%-44s %12s %s\n' "window" "commits/s" "ratio to alone"
printf '%-44s %12s\n' "alone (no backup)" "$alone"
printf '%-44s %12s %s\n' "a backup running (listed, not read)" "$running" "$(ratio "$running" "$alone")"
printf '%-44s %12s %s\n' "the backup held (its jetfs killed)" "$held" "$(ratio "$held" "$alone")"
printf '%-44s %12s %s\n' "after the takeover's mount ended" "$after" "$(ratio "$after" "$alone")"
echo "kept images written while held: $kept_rate MiB/s (spill file, allocated); $((k1 / 1048576)) MiB kept at the end of the hold, of a $db_mib MiB database"
echo "instance RSS: $rss_alone KiB alone, $rss_held KiB while held"
echo "takeover (jetfs -o resume to a listing): $takeover_ms ms"
echo "client area for the set of $set_bytes bytes: $area bytes (one bit per 4 KiB)"
echo "RESULT hold.commits_alone=$alone txn/s"
echo "RESULT hold.commits_running=$running txn/s"
echo "RESULT hold.commits_held=$held txn/s"
echo "RESULT hold.kept_mib_s=$kept_rate MiB/s"
echo "RESULT hold.kept_mib=$((k1 / 1048576)) MiB"
echo "RESULT hold.takeover_ms=$takeover_ms ms"
echo "RESULT hold.rss_growth_kib=$((rss_held - rss_alone)) KiB"
echo "RESULT hold.area_bytes=$area bytes"
