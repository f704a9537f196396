#!/usr/bin/env bash
# Builds m365sync's C libraries (release) and installs them under PREFIX the way
# cargo-c lays out a Rust C library, for C hosts that use pkg-config:
#
#   PREFIX/lib/libm365sync.so.X.Y.Z      the engine, with the links
#              libm365sync.so.SONAME     (what programs linked against it load; 0.1 for 0.1.x)
#              libm365sync.so            (what -lm365sync links)
#   PREFIX/lib/libm365sync.a             the engine as a static library
#   PREFIX/lib/libm365sync_sim.so.X.Y.Z  the Graph simulator, a test double (cdylib only), and links
#   PREFIX/include/m365sync/m365sync.h, PREFIX/include/m365sync_sim/m365sync_sim.h
#   PREFIX/lib/pkgconfig/m365sync.pc, m365sync-sim.pc (which requires m365sync)
#
# Usage: scripts/install-c-lib.sh PREFIX      e.g. /usr/local, or a staging directory
# PREFIX is written into the .pc files; with DESTDIR set, the files go to
# DESTDIR/PREFIX instead (packaging). Linux only: the sonames are ELF's.
set -euo pipefail

usage() {
    echo "usage: $0 PREFIX   (an absolute path; DESTDIR=... stages under DESTDIR/PREFIX)" >&2
    exit 2
}
[ $# -eq 1 ] || usage
prefix=${1%/}
case "$prefix" in
    /*) ;;
    *) echo "$0: PREFIX must be an absolute path (it is written into the .pc files): $1" >&2; exit 2 ;;
esac
for tool in cargo readelf install; do
    command -v "$tool" >/dev/null 2>&1 || { echo "$0: $tool is required" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
target_dir=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
release="$target_dir/release"

# The engine (cdylib, staticlib): rustc prints the system libraries the static library
# needs (--print native-static-libs); cargo replays that note when the build is fresh.
build_log=$(mktemp)
trap 'rm -f "$build_log"' EXIT
cargo rustc --release --locked -p m365sync --lib --color never -- --print native-static-libs 2>&1 | tee "$build_log"
native_static_libs=$(sed -n 's/^note: native-static-libs: //p' "$build_log" | tail -n 1)
[ -n "$native_static_libs" ] || {
    echo "$0: rustc printed no native-static-libs for libm365sync.a" >&2
    exit 1
}
cargo build --release --locked -p m365sync-sim --lib
version=$(cargo pkgid -p m365sync | sed 's/.*[#@]//')

dest="${DESTDIR:-}$prefix"
libdir="$dest/lib"
install -d "$libdir/pkgconfig" "$dest/include/m365sync" "$dest/include/m365sync_sim"

# Installs lib$1.so as lib$1.so.$version with the soname link and the -l link.
install_shared() {
    local name=$1 built="$release/lib$1.so" soname
    soname=$(readelf -d "$built" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ -n "$soname" ] || { echo "$0: $built has no SONAME (not built for Linux?)" >&2; exit 1; }
    install -m 0755 "$built" "$libdir/lib$name.so.$version"
    ln -sf "lib$name.so.$version" "$libdir/$soname"
    ln -sf "lib$name.so.$version" "$libdir/lib$name.so"
}
install_shared m365sync
install_shared m365sync_sim
install -m 0644 "$release/libm365sync.a" "$libdir/"
install -m 0644 crates/engine/include/m365sync.h "$dest/include/m365sync/"
install -m 0644 crates/sim/include/m365sync_sim.h "$dest/include/m365sync_sim/"

# Writes $1.pc; the remaining arguments are its lines after the variables.
write_pc() {
    local file="$libdir/pkgconfig/$1.pc"
    shift
    {
        printf 'prefix=%s\nexec_prefix=${prefix}\nlibdir=${exec_prefix}/lib\nincludedir=${prefix}/include\n\n' "$prefix"
        printf '%s\n' "$@"
    } >"$file"
}
write_pc m365sync \
    "Name: m365sync" \
    "Description: Change-detection engine for OneDrive and SharePoint (C library)" \
    "Version: $version" \
    'Libs: -L${libdir} -lm365sync' \
    'Cflags: -I${includedir}/m365sync' \
    "Libs.private: $native_static_libs"
write_pc m365sync-sim \
    "Name: m365sync-sim" \
    "Description: A Microsoft Graph simulator for testing m365sync hosts offline (C library)" \
    "Version: $version" \
    'Libs: -L${libdir} -lm365sync_sim' \
    'Cflags: -I${includedir}/m365sync_sim' \
    "Requires: m365sync = $version"

echo "installed m365sync $version under $dest (pkg-config: PKG_CONFIG_PATH=$prefix/lib/pkgconfig)"
