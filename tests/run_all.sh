#!/bin/sh
# run_all.sh TEST...: runs each CMocka program from the project root; fails if any fails.
# $RUNNER, if set, runs them (make test-aarch64: qemu-aarch64).
failed=""
for t in "$@"; do
    echo "== $t"
    if ! $RUNNER "$t"; then failed="$failed $t"; fi
done
if [ -n "$failed" ]; then
    echo "FAILED:$failed"
    exit 1
fi
echo "all $# test programs passed"
