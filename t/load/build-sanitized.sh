#!/bin/bash
# Builds the module with ASan + UBSan (make SANITIZE=1) in a directory of
# its own, from the work tree as it is (committed or not), and prints the
# path of the .so.  The repository's own build (.libs/) is not touched.
#
#   t/load/build-sanitized.sh DIR      -> DIR/.libs/mod_rewrite.so
set -eu
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:?usage: build-sanitized.sh DIR}
mkdir -p "$out/include"
cp "$top"/Makefile "$top"/*.c "$out/"
cp "$top"/include/*.h "$out/include/"
[ -f "$top/config.mk" ] && cp "$top/config.mk" "$out/"
make -C "$out" --no-print-directory SANITIZE=1 .libs/mod_rewrite.so >"$out/build.log" 2>&1 || {
    cat "$out/build.log" >&2
    echo "build-sanitized: make SANITIZE=1 failed" >&2
    exit 1
}
chmod -R go+rX "$out"
echo "$out/.libs/mod_rewrite.so"
