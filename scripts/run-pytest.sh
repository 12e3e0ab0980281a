#!/bin/sh
# Runs the whole suite. pytest's exit code 5 (no tests collected) counts as a failure.
set -u
pytest_bin="$1"
shift
"$pytest_bin" "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
