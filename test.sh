#!/usr/bin/env bash
# The project's test command (README, .ci/run): vet, the whole suite under the
# race detector, then every native fuzz target for a bounded time.
#   FUZZTIME=2m ./test.sh     # fuzz longer (default 10s per target)
set -euo pipefail
cd "$(dirname "$0")"
go vet ./...
go test -race -count=1 ./...
fuzztime=${FUZZTIME:-10s}
for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' authz/*_test.go | sed 's/^func //' | sort -u); do
	echo "fuzz $target ($fuzztime)"
	go test ./authz -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
done
