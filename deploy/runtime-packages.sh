#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries a binary links against, one a line:
# what a host (or an image) without the build dependencies needs to run it.
#   deploy/runtime-packages.sh build/quorumd
set -euo pipefail
binary=${1:?usage: runtime-packages.sh BINARY}
ldd "$binary" | awk '$3 ~ /^\// { print $3 }' | while read -r lib; do
  # With merged /usr a library is found under /lib or /usr/lib; dpkg knows one of the two.
  real=$(readlink -f "$lib")
  dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "$lib" 2>/dev/null ||
    echo "runtime-packages.sh: no package holds $lib" >&2
done | cut -d: -f1 | sort -u
