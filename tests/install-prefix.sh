#!/bin/sh
# tests/install-prefix.sh -- a real install (no DESTDIR) into a fresh prefix
# that the loader searches, as /usr/local/lib on Debian: the installed
# programs run at once with a clean environment (no LD_LIBRARY_PATH, no
# ldconfig by hand), and make uninstall leaves no file and no directory of
# the package.  Run by make check-install:
#   install-prefix.sh BUILDDIR
# Needs root (ldconfig, /etc/ld.so.conf.d): skipped otherwise.
set -eu
builddir=$1
fail() {
	echo "FAIL: install-prefix: $*" >&2
	exit 1
}
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: install-prefix: needs root (the loader's configuration)"
	exit 0
fi
PATH=$PATH:/sbin:/usr/sbin
tmp=$(mktemp -d "${TMPDIR:-/tmp}/jetfs-prefix.XXXXXX")
prefix=$tmp/prefix
conf=/etc/ld.so.conf.d/zz-jetfs-install-check.$$.conf
trap 'rm -f "$conf"; ldconfig; rm -rf "$tmp"' EXIT
# The prefix's lib joins the loader's search path before configure, so
# libtool treats it as a system directory (no rpath), as /usr/local/lib.
mkdir -p "$prefix/lib"
echo "$prefix/lib" >"$conf"
ldconfig
make -s -C "$builddir" distdir distdir="$tmp/src" >/dev/null
mkdir "$tmp/build"
(cd "$tmp/build" && "$tmp/src/configure" -q --prefix="$prefix" && make -s -j2 >/dev/null && make -s install >"$tmp/install.log") ||
	fail "configure, make, make install in $tmp/build"
if readelf -d "$prefix/bin/jetfs" | grep -q 'R.*PATH.*'"$prefix"; then
	fail "jetfs has an rpath to $prefix: not the case of a system libdir"
fi
for prog in jetfs jetload jetutil; do
	out=$(env -i "$prefix/bin/$prog" --help 2>&1) || fail "$prog --help right after make install: $out"
	case "$out" in *usage*) ;; *) fail "$prog --help printed: $out" ;; esac
done
echo "PASS: install-prefix: jetfs, jetload, jetutil run right after make install into $prefix"
(cd "$tmp/build" && make -s uninstall >/dev/null) || fail "make uninstall"
left=$(find "$prefix" ! -type d)
[ -z "$left" ] || fail "make uninstall left files: $left"
# The shared directories may stay (other packages use them); the package's may not.
left=$(find "$prefix" -mindepth 1 -type d \( -name 'jetfs*' -o -name examples \))
[ -z "$left" ] || fail "make uninstall left the package's directories: $left"
echo "PASS: install-prefix: make uninstall left no file and no directory of the package"
