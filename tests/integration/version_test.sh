#!/bin/sh
# `PROGRAM --version` prints "NAME VERSION" (the project()'s VERSION) alone and exits 0.
# Usage: version_test.sh PROGRAM NAME VERSION
set -u
out=$("$1" --version 2>&1)
rc=$?
if [ "$rc" != 0 ] || [ "$out" != "$2 $3" ]; then
    echo "FAIL: $2 --version: exit $rc, printed '$out', wanted '$2 $3'"
    exit 1
fi
echo "$2 --version: $out"
