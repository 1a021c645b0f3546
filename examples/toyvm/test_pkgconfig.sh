#!/bin/sh
# examples/toyvm/test_pkgconfig.sh — checks that an outside project can build
# on an installed moss through pkg-config.
#
#     examples/toyvm/test_pkgconfig.sh BUILD_DIR
#
# Installs the (already built) moss of BUILD_DIR into a temporary DESTDIR
# with `meson install --destdir`, points pkg-config at the moss.pc found
# there (PKG_CONFIG_SYSROOT_DIR maps its paths into the DESTDIR), copies the
# toy VM's sources out of the tree, builds them with their Makefile, and
# runs the result under both collectors against the installed libmoss. Also
# compiles moss.h as C++ with the same flags. Exits non-zero on any failure.
# Registered as the meson test `toyvm-pkgconfig`; exits 77 (meson's "skipped")
# when make, pkg-config or a C++ compiler is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=${1:-${MOSS_BUILD_DIR:-}}
if [ -z "$build" ] || [ ! -d "$build" ]; then
  echo "usage: $0 BUILD_DIR   (a configured and built moss build directory)" >&2
  exit 2
fi
build=$(cd "$build" && pwd)
meson=${MESON:-meson}
make=${MAKE:-make}
cxx=${CXX:-c++}
for tool in "$meson" "$make" pkg-config "$cxx"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test_pkgconfig: skipped: $tool is not installed"
    exit 77
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/moss-pkgconfig.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/root

fail() {
  echo "test_pkgconfig: $*" >&2
  exit 1
}

echo "== meson install --destdir $root"
"$meson" install -C "$build" --destdir "$root" --no-rebuild --quiet >"$tmp/install.log" 2>&1 ||
  { cat "$tmp/install.log" >&2; fail "meson install failed"; }

pc=$(find "$root" -name moss.pc | head -n 1)
[ -n "$pc" ] || fail "no moss.pc was installed"
header=$(find "$root" -path '*/moss/moss.h' | head -n 1)
[ -n "$header" ] || fail "moss/moss.h was not installed"
lib=$(find "$root" -name 'libmoss.so*' | head -n 1)
[ -n "$lib" ] || fail "libmoss.so was not installed"
libdir=$(dirname "$lib")

PKG_CONFIG_PATH=$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
echo "== pkg-config: $(pkg-config --modversion moss): $(pkg-config --cflags --libs moss)"
case "$(pkg-config --cflags moss)" in
  *"$root"*) ;;
  *) fail "pkg-config --cflags moss does not point into the DESTDIR" ;;
esac

echo "== make (outside the source tree)"
mkdir "$tmp/src"
cp "$here"/*.c "$here"/*.h "$here"/Makefile "$tmp/src/"
"$make" -C "$tmp/src" CFLAGS="-O2 -g -Werror" >"$tmp/make.log" 2>&1 ||
  { cat "$tmp/make.log" >&2; fail "make failed"; }

echo "== moss.h as C++"
printf '#include <moss/moss.h>\nint main() { moss_heap_options o; moss_heap_options_init(&o); return o.gc_percent == 100 ? 0 : 1; }\n' \
  >"$tmp/cxx.cpp"
# pkg-config's output is a list of flags: it is split on purpose.
# shellcheck disable=SC2046
$cxx -std=c++20 -Wall -Wextra -Werror $(pkg-config --cflags moss) "$tmp/cxx.cpp" -o "$tmp/cxx" \
  $(pkg-config --libs moss) || fail "moss.h does not compile as C++"
LD_LIBRARY_PATH=$libdir "$tmp/cxx" || fail "the C++ program failed"

LD_LIBRARY_PATH=$libdir
export LD_LIBRARY_PATH
resolved=$(ldd "$tmp/src/moss-toyvm" | sed -n 's/.*libmoss[^ ]* => \([^ ]*\).*/\1/p')
case "$resolved" in
  "$root"/*) ;;
  *) fail "moss-toyvm uses libmoss from '$resolved', not from the DESTDIR" ;;
esac

for gc in ms rc; do
  echo "== moss-toyvm --gc=$gc"
  "$tmp/src/moss-toyvm" --gc=$gc || fail "moss-toyvm --gc=$gc failed"
done
echo "test_pkgconfig: ok"
