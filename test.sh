#!/usr/bin/env bash
# The project's test command (README, .ci/run): vet, the whole suite under the
# race detector, then every native fuzz target for a bounded time.
#   FUZZTIME=2m ./test.sh     # fuzz longer (default 10s per target)
set -euo pipefail
cd "$(dirname "$0")"
go vet ./...
go test -race -count=1 ./...
fuzztime=${FUZZTIME:-10s}
for file in $(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		echo "fuzz $pkg $target ($fuzztime)"
		go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime"
	done
done
