#!/bin/sh
# bench/bench_chain.sh -- a backup chain of a live bank at 1x, 4x and 16x a
# base size, with the same log volume between the full and the incremental:
#
#   bench/bench_chain.sh [--base-accounts N] [--log-mib M] [--sizes "1 4 16"]
#
# For each size: jetload create (N x size accounts, jetload's default log
# generations of 5 MiB, an 8 MiB cache at run time), then
#   A. the bank runs (rate-limited to 100 transfers/s) serving its socket;
#      a full backup through jetfs: mount, rsync -a backup/full/, truncate,
#      unmount; the peak RSS (VmHWM) of the jetfs daemon and of the instance;
#   B. the bank runs alone (lazy commits, unlimited) until it has closed M
#      MiB more of log generations;
#   C. the bank serves its socket again; an incremental through jetfs (mount,
#      rsync -a backup/incremental/, unmount: the time of all three), then
#      jetutil backup --socket --incremental of the same generations;
#   D. jetutil restore of the full + jetfs incremental chain (MB/s of set,
#      generations replayed per second), then jetload verify of the result.
# The point of the sizes: an incremental costs its log volume, not the size
# of the database, and neither memory grows with the database.
#
# Figures only, plus RESULT lines for bench/run; the exit status is 1 if a
# sanity check fails (a mount, a backup that does not end normally, a
# restore that fails or does not verify), 77 if FUSE cannot be used.
# Environment: top_builddir (default: the directory above this script), TMPDIR.
set -u

base=400000
log_mib=128
log_kb=5120
sizes="1 4 16"
while [ $# -gt 0 ]; do
	case $1 in
	--base-accounts) base=${2:?--base-accounts needs a value}; shift 2 ;;
	--log-mib) log_mib=${2:?--log-mib needs a value}; shift 2 ;;
	--sizes) sizes=${2:?--sizes needs a value}; shift 2 ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed -e '/^set -u/d' -e 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench_chain.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

here=$(cd "$(dirname "$0")" && pwd)
top=${top_builddir:-$(dirname "$here")}
JETLOAD=$top/tools/jetload/jetload
JETUTIL=$top/tools/jetutil/jetutil
JETFS=$top/fs/jetfs
for b in "$JETLOAD" "$JETUTIL" "$JETFS"; do
	[ -x "$b" ] || { echo "bench_chain.sh: $b is not built" >&2; exit 1; }
done
if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null 2>&1; then
	echo "bench_chain.sh: skipped: /dev/fuse not usable or fusermount3 missing" >&2
	exit 77
fi

bench_name=bench_chain
. "$here/chainlib.sh"

echo "bench_chain: base $base accounts, sizes $sizes x, $log_mib MiB of log between full and incremental"
printf '%-5s | %9s | %8s | %8s | %9s | %8s | %9s | %9s | %9s | %9s | %8s | %8s\n' size "db MiB" "full s" "log MiB" transfers \
	"inc fs s" "inc ju s" "rest MB/s" "rest gen/s" "jetfs RSS" "inst RSS" "verify"
for k in $sizes; do
	d=$work/x$k
	bank=$d/bank
	sock=$d/backup.sock
	mkdir -p "$d"
	# A large cache makes create fast; the runs get jetload's default 8 MiB,
	# so that the instance's RSS is comparable between sizes.
	"$JETLOAD" create "$bank" --accounts $((base * k)) --log-size "$log_kb" --cache 65536 >"$work/create.log" 2>&1 ||
		die "jetload create failed"
	sed 's/^cache_pages=.*/cache_pages=1024/' "$bank/jetload.conf" >"$d/conf" || die "cannot set cache_pages"
	mv "$d/conf" "$bank/jetload.conf" || die "cannot set cache_pages"
	db_mib=$(awk -v b="$(bytes_of "$bank/bank0.edb")" 'BEGIN { printf "%.1f", b / 1048576 }')

	# A: the full, through jetfs, with the memory of both processes.
	bank_serve "$bank" "$sock"
	t0=$(now_ns)
	fs_mount "$sock" "$d/mnt"
	rsync -a "$d/mnt/backup/full/" "$d/full/" || die "rsync of backup/full/ failed"
	rss_fs=$(peak_rss_mib "$fs_pid")
	rss_inst=$(peak_rss_mib "$bank_pid")
	echo >"$d/mnt/backup/truncate" || die "truncate failed"
	fs_unmount
	full_s=$(secs_since "$t0")
	bank_stop

	# B: M MiB of log, as fast as the bank goes.
	g0=$(generations "$bank")
	want=$(((log_mib * 1024 + log_kb - 1) / log_kb))
	"$JETLOAD" run "$bank" --lazy >"$work/load.log" 2>&1 &
	bank_pid=$!
	i=0
	while [ "$(generations "$bank")" -lt $((g0 + want)) ]; do
		kill -0 "$bank_pid" 2>/dev/null || { bank_pid=; die "jetload run (load) exited early"; }
		i=$((i + 1))
		[ "$i" -lt 30000 ] || die "no $log_mib MiB of log after 300 s"
		sleep 0.01
	done
	bank_stop
	transfers=$(sed -n 's/^stopped: .* transfers=\([0-9]*\) .*/\1/p' "$work/load.log")

	# C: the incremental, through jetfs then with jetutil (same generations).
	bank_serve "$bank" "$sock"
	commits_before=$(sed -n 's/^running on .* commits=\([0-9]*\)$/\1/p' "$work/bank.log")
	t0=$(now_ns)
	fs_mount "$sock" "$d/mnt"
	rsync -a "$d/mnt/backup/incremental/" "$d/inc/" || die "rsync of backup/incremental/ failed"
	fs_unmount
	inc_fs_s=$(secs_since "$t0")
	t0=$(now_ns)
	"$JETUTIL" backup --socket "$sock" "$d/inc-jetutil" --incremental --quiet >"$work/jetutil.log" 2>&1 ||
		die "jetutil backup --incremental failed"
	inc_ju_s=$(secs_since "$t0")
	bank_stop
	inc_mib=$(awk -v b="$(bytes_of "$d/inc")" 'BEGIN { printf "%.1f", b / 1048576 }')

	# D: restore of the chain, then the bank must verify.
	set_bytes=$(($(bytes_of "$d/full") + $(bytes_of "$d/inc")))
	t0=$(now_ns)
	JETFS_EVENTS=stderr "$JETUTIL" restore -t "$d/restored" "$d/full" "$d/inc" --quiet >"$work/restore.log" 2>&1 ||
		die "jetutil restore of the chain failed"
	rest_s=$(secs_since "$t0")
	gens=$(sed -n 's/^restored .*, log generations \([0-9]*\) to \([0-9]*\) replayed$/\1 \2/p' "$work/restore.log" |
		awk '{ n = $2 - $1 + 1; if (n > max) max = n } END { print max + 0 }')
	cp "$bank/jetload.conf" "$d/restored/"
	"$JETLOAD" verify "$d/restored" >"$work/verify.log" 2>&1 || die "jetload verify of the restored chain failed"
	commits_after=$(sed -n 's/^ok: .* commits=\([0-9]*\)$/\1/p' "$work/verify.log")
	[ "${commits_after:-0}" -ge "${commits_before:-0}" ] ||
		die "the restored bank has commits=$commits_after, the incremental began at commits=$commits_before or later"
	rest_mbs=$(awk -v b="$set_bytes" -v s="$rest_s" 'BEGIN { printf "%.1f", b / s / 1e6 }')
	rest_gens=$(awk -v g="$gens" -v s="$rest_s" 'BEGIN { printf "%.1f", g / s }')

	printf '%-5s | %9s | %8s | %8s | %9s | %8s | %9s | %9s | %9s | %9s | %8s | %8s\n' "${k}x" "$db_mib" "$full_s" "$inc_mib" \
		"${transfers:-?}" "$inc_fs_s" "$inc_ju_s" "$rest_mbs" "$rest_gens" "$rss_fs" "$rss_inst" ok
	result "chain.db_mib.${k}x" "$db_mib" MiB "$((base * k)) accounts"
	result "chain.full_jetfs_s.${k}x" "$full_s" s
	result "chain.inc_log_mib.${k}x" "$inc_mib" MiB "${transfers:-?} transfers"
	result "chain.inc_jetfs_s.${k}x" "$inc_fs_s" s
	result "chain.inc_jetutil_s.${k}x" "$inc_ju_s" s
	result "chain.restore_mbs.${k}x" "$rest_mbs" MB/s "$(awk -v b="$set_bytes" 'BEGIN { printf "%.0f", b / 1e6 }') MB in $rest_s s"
	result "chain.restore_gens.${k}x" "$rest_gens" gen/s "$gens generations"
	result "chain.rss_jetfs.${k}x" "$rss_fs" MiB
	result "chain.rss_instance.${k}x" "$rss_inst" MiB
	rm -rf "$d"
done
echo "columns: full s = mount + rsync backup/full/ + truncate + unmount; log MiB = the incremental set;"
echo "  inc fs s = mount + rsync backup/incremental/ + unmount; inc ju s = jetutil backup --socket --incremental;"
echo "  rest = jetutil restore of full + incremental (MB of set, generations replayed); RSS = peak (VmHWM) during the full"
