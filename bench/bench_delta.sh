#!/bin/sh
# bench/bench_delta.sh -- a page delta against the incremental of the same
# period, on a live bank (issue 16):
#
#   bench/bench_delta.sh [--accounts N] [--hot PCT] [--log-mib M]
#                        [--small-accounts N] [--small-log-mib M]
#
# 1. A hot set: jetload create N accounts (default 13500000, about 420 MiB;
#    log generations of 5 MiB; an 8 MiB cache at run time), then
#    A. the bank serves its socket; the base full through jetfs: mount,
#       rsync -a backup/full/, truncate, unmount;
#    B. jetload run --hot PCT (default 1) --lazy until M MiB (default 256)
#       more of log generations are closed;
#    C. the bank serves its socket (100 transfers/s); the delta through
#       jetfs (mount, rsync -a backup/delta/, unmount), then the incremental
#       (mount, rsync -a backup/incremental/, unmount; not truncated);
#    D. jetutil restore of full + incremental, and of full + delta, each
#       timed, each verified by jetload verify; both counters must lie
#       between the commits before the delta's listing and the commits when
#       the bank stopped.  Ratios: incremental set / delta set, restore of
#       full + incremental / restore of full + delta.
#    E. the same bank after uniform transfers over every account for S
#       seconds (most pages change): the read of backup/full/ and of
#       backup/delta/ (cat of every file, warm page cache), in MB/s, and the
#       listing of backup/delta/ (the instance reads each changed page and
#       writes the delta out once, backup.c K7).
# 2. Where a delta does not pay: a small bank (default 400000 accounts, 15
#    MiB) with uniform transfers writing M MiB (default 32) of log: nearly
#    every page changes, so the delta is nearly the full image.
#
# Figures only, plus RESULT lines for bench/run; the exit status is 1 if a
# sanity check fails (a mount, a backup that does not end normally, a
# restore that fails or does not verify, a counter out of range), 77 if FUSE
# cannot be used.  Environment: top_builddir (default: the directory above
# this script), TMPDIR.
set -u

accounts=13500000
hot=1
log_mib=256
small_accounts=400000
small_log_mib=32
uniform_s=10
log_kb=5120
while [ $# -gt 0 ]; do
	case $1 in
	--accounts) accounts=${2:?--accounts needs a value}; shift 2 ;;
	--hot) hot=${2:?--hot needs a value}; shift 2 ;;
	--log-mib) log_mib=${2:?--log-mib needs a value}; shift 2 ;;
	--small-accounts) small_accounts=${2:?--small-accounts needs a value}; shift 2 ;;
	--small-log-mib) small_log_mib=${2:?--small-log-mib needs a value}; shift 2 ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_delta.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
bench_name=bench_delta
. "$here/chainlib.sh"

mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
commits_of() { sed -n "s/^$2.*commits=\([0-9]*\).*/\1/p" "$1" | tail -n 1; }

# make_bank DIR ACCOUNTS: a bank whose runs get an 8 MiB cache.
make_bank() {
	"$JETLOAD" create "$1" --accounts "$2" --log-size "$log_kb" --cache 65536 >"$work/create.log" 2>&1 ||
		die "jetload create failed"
	sed 's/^cache_pages=.*/cache_pages=1024/' "$1/jetload.conf" >"$work/conf" || die "cannot set cache_pages"
	mv "$work/conf" "$1/jetload.conf" || die "cannot set cache_pages"
}

# copy_set SOCK KIND DST [truncate]: mount, rsync -a backup/KIND/, (truncate,) unmount.
copy_set() {
	fs_mount "$1" "$work/mnt"
	rsync -a "$work/mnt/backup/$2/" "$3/" || die "rsync of backup/$2/ failed"
	if [ "${4:-}" = truncate ]; then
		echo >"$work/mnt/backup/truncate" || die "truncate failed"
	fi
	fs_unmount
}

# restore_timed OUT SET...: jetutil restore into OUT; its seconds in rt_s.
restore_timed() {
	out=$1
	shift
	t0=$(now_ns)
	"$JETUTIL" restore -t "$out" "$@" --quiet >"$work/restore.log" 2>&1 || die "jetutil restore $* failed"
	rt_s=$(secs_since "$t0")
}

# verified_commits DIR BANK LOW HIGH: jetload verify of a restored bank; its
# commit counter in vc, which must lie in [LOW, HIGH].
verified_commits() {
	cp "$2/jetload.conf" "$1/"
	"$JETLOAD" verify "$1" >"$work/verify.log" 2>&1 || die "jetload verify of $1 failed"
	vc=$(commits_of "$work/verify.log" ok)
	[ "${vc:-0}" -ge "$3" ] && [ "${vc:-0}" -le "$4" ] ||
		die "$1: restored commits=$vc, outside [$3, $4] (the delta's listing to the bank's stop)"
}

# read_rate SOCK KIND: mount, time cat of every file of backup/KIND/ after
# its listing, unmount; sets rr_mbs, rr_list_s, rr_bytes.
read_rate() {
	fs_mount "$1" "$work/mnt"
	t0=$(now_ns)
	ls "$work/mnt/backup/$2/" >/dev/null || die "listing of backup/$2/ failed"
	list_s=$(secs_since "$t0")
	bytes=$(($(bytes_of "$work/mnt/backup/$2/")))
	t0=$(now_ns)
	cat "$work/mnt/backup/$2"/* >/dev/null || die "cat of backup/$2/ failed"
	s=$(secs_since "$t0")
	fs_unmount
	rr_mbs=$(awk -v b="$bytes" -v s="$s" 'BEGIN { printf "%.1f", b / s / 1e6 }')
	rr_list_s=$list_s
	rr_bytes=$bytes
}

# ---- 1. a hot set ----
bank=$work/bank
sock=$work/backup.sock
make_bank "$bank" "$accounts"
db_bytes=$(bytes_of "$bank/bank0.edb")
echo "bench_delta: $accounts accounts ($(mib "$db_bytes") MiB), hot set $hot %, $log_mib MiB of log after the full"

bank_serve "$bank" "$sock"
copy_set "$sock" full "$work/full" truncate
bank_stop
bank_load "$bank" "$log_mib" "$log_kb" --hot "$hot"
transfers=$(sed -n 's/^stopped: .* transfers=\([0-9]*\) .*/\1/p' "$work/load.log")

bank_serve "$bank" "$sock"
low=$(commits_of "$work/bank.log" "running on")
t0=$(now_ns)
copy_set "$sock" delta "$work/delta"
delta_s=$(secs_since "$t0")
t0=$(now_ns)
copy_set "$sock" incremental "$work/inc"
inc_s=$(secs_since "$t0")
bank_stop
high=$(commits_of "$work/bank.log" stopped:)
delta_bytes=$(bytes_of "$work/delta")
inc_bytes=$(bytes_of "$work/inc")

restore_timed "$work/r-inc" "$work/full" "$work/inc"
rest_inc_s=$rt_s
verified_commits "$work/r-inc" "$bank" "${low:-0}" "${high:-0}"
c_inc=$vc
rm -rf "$work/r-inc"
restore_timed "$work/r-delta" "$work/full" "$work/delta"
rest_delta_s=$rt_s
verified_commits "$work/r-delta" "$bank" "${low:-0}" "${high:-0}"
c_delta=$vc
rm -rf "$work/r-delta"
size_x=$(ratio "$inc_bytes" "$delta_bytes")
restore_x=$(ratio "$rest_inc_s" "$rest_delta_s")

printf '%-26s | %10s | %9s | %9s | %s\n' set "MiB" "copy s" "restore s" "restored commits"
printf '%-26s | %10s | %9s | %9s | %s\n' "full (the base)" "$(mib "$(bytes_of "$work/full")")" - - -
printf '%-26s | %10s | %9s | %9s | %s\n' "incremental" "$(mib "$inc_bytes")" "$inc_s" "$rest_inc_s" "$c_inc"
printf '%-26s | %10s | %9s | %9s | %s\n' "delta" "$(mib "$delta_bytes")" "$delta_s" "$rest_delta_s" "$c_delta"
echo "  ${transfers:-?} transfers on $hot % of the accounts; commits $low to $high while the delta and incremental were taken"
echo "  incremental / delta: x$size_x in size, x$restore_x in restore time"
result delta.db_mib "$(mib "$db_bytes")" MiB "$accounts accounts"
result delta.inc_mib "$(mib "$inc_bytes")" MiB "${transfers:-?} transfers on $hot %"
result delta.delta_mib "$(mib "$delta_bytes")" MiB
result delta.size_x "$size_x" x "incremental set / delta set"
result delta.restore_inc_s "$rest_inc_s" s "full + incremental, commits=$c_inc"
result delta.restore_delta_s "$rest_delta_s" s "full + delta, commits=$c_delta"
result delta.restore_x "$restore_x" x "restore of full + incremental / of full + delta"
rm -rf "$work/inc" "$work/delta"

# E: read speeds, with most pages changed.
"$JETLOAD" run "$bank" --lazy --seconds "$uniform_s" >"$work/load.log" 2>&1 || die "uniform jetload run failed"
bank_serve "$bank" "$sock"
read_rate "$sock" full		# warms the page cache
read_rate "$sock" full
full_mbs=$rr_mbs
read_rate "$sock" delta
delta_mbs=$rr_mbs delta_list_s=$rr_list_s delta_read_bytes=$rr_bytes
bank_stop
echo "  read, most pages changed: backup/full/ $full_mbs MB/s, backup/delta/ $delta_mbs MB/s" \
	"($(mib "$delta_read_bytes") MiB; its listing $delta_list_s s)"
result delta.read_full_mbs "$full_mbs" MB/s "cat of backup/full/, warm"
result delta.read_delta_mbs "$delta_mbs" MB/s "cat of backup/delta/, $(mib "$delta_read_bytes") MiB"
result delta.list_delta_s "$delta_list_s" s "listing of that delta (pages read, delta written out)"
rm -rf "$work/full" "$bank"

# ---- 2. uniform writes over a small database ----
small=$work/small
make_bank "$small" "$small_accounts"
bank_serve "$small" "$sock"
copy_set "$sock" full "$work/full" truncate
bank_stop
bank_load "$small" "$small_log_mib" "$log_kb"
bank_serve "$small" "$sock"
copy_set "$sock" delta "$work/delta"
copy_set "$sock" incremental "$work/inc"
bank_stop
sfull=$(bytes_of "$work/full")
sdelta=$(bytes_of "$work/delta")
sinc=$(bytes_of "$work/inc")
echo "  uniform writes, $small_accounts accounts: full $(mib "$sfull") MiB, delta $(mib "$sdelta") MiB," \
	"incremental $(mib "$sinc") MiB (delta / full x$(ratio "$sdelta" "$sfull"))"
result delta.small_delta_of_full "$(ratio "$sdelta" "$sfull")" x "uniform writes, $small_accounts accounts: delta set / full set"
result delta.small_size_x "$(ratio "$sinc" "$sdelta")" x "uniform writes: incremental set / delta set"
