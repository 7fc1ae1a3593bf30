#!/usr/bin/env bash
# The project's test command (README, .ci/run): first the set-up a fresh
# Debian machine lacks, then vet, staticcheck, the whole suite under the race
# detector, then every native fuzz target for a bounded time.
#   FUZZTIME=2m ./test.sh        # fuzz longer (default 10s per target)
#   TEST_SETUP_ONLY=1 ./test.sh  # only the set-up
set -euo pipefail
cd "$(dirname "$0")"

# --- set-up -----------------------------------------------------------------
# The tests use curl, headless Chromium, real redis-server processes, gcc
# (cgo, for -race) and Node with the strict OAuth clients of clients/
# (oauth4webapi, openid-client, jose, playwright-core, pinned by
# clients/package-lock.json). Whatever is missing is installed, saying so.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="$PATH:/usr/local/go/bin"
fi
# apt installs what is missing; a failure is reported by the check after it.
apt_install() {
	echo "test.sh: installing with apt-get: $*"
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null 2>&1 || { echo "test.sh: not root and no sudo: run apt-get install -y $*" >&2; exit 1; }
		sudo=(sudo)
	fi
	# Another apt may be running (a machine being set up): wait for its lock.
	if [[ -z ${apt_updated:-} ]]; then
		"${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq || true
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null || true
	if [[ " $* " == *" redis-server "* ]]; then
		# The package starts a system Redis on 6379; the tests run their own
		# servers on free ports and never use it.
		"${sudo[@]}" service redis-server stop >/dev/null 2>&1 || true
	fi
}
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if ((${#missing[@]})); then
	apt_install "${missing[@]}"
fi
# Some nodejs packages bring npm, Debian's does not.
if ! command -v npm >/dev/null 2>&1; then
	apt_install npm
fi
still=()
for tool in curl gcc chromium redis-server node npm; do
	command -v "$tool" >/dev/null 2>&1 || still+=("$tool")
done
if ((${#still[@]})); then
	echo "test.sh: still missing after apt-get: ${still[*]}" >&2
	exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if ((node_major < 20)); then
	echo "test.sh: clients/ needs Node.js 20 or newer; this is $(node --version)" >&2
	exit 1
fi
# npm ci when node_modules is missing or was installed from another lockfile
# (the stamp is the lockfile npm ci last installed): clients/ (the strict
# clients) and idp/ (oidc-provider, the independent authorization server of
# the trusted-issuer tests, issue 18).
for dir in clients idp; do
	stamp=$dir/node_modules/.installed-package-lock.json
	if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
		echo "test.sh: installing the Node packages: npm ci in $dir/"
		(cd "$dir" && npm ci --no-audit --no-fund)
		cp "$dir/package-lock.json" "$stamp"
	fi
done
if [[ ${TEST_SETUP_ONLY:-} == 1 ]]; then
	echo "test.sh: set-up done"
	exit 0
fi

# --- tests --------------------------------------------------------------------
go version
go vet ./...
# staticcheck at a pinned version, built from the Go module proxy (kept out
# of go.mod: plugin users need not carry it).
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# The Redis store's package holds the failover tests, whose bounds are on
# time (service back within 2 × cluster-node-timeout + 1 s): it runs on its
# own, after the rest, not next to the browser and Node tests.
go test -race -count=1 $(go list ./... | grep -v '/tokenstore/redis$')
go test -race -count=1 ./tokenstore/redis
fuzztime=${FUZZTIME:-10s}
for file in $(grep -rl --include='*_test.go' '^func Fuzz' . | sort); do
	pkg=./$(dirname "${file#./}")
	for target in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$file" | sed 's/^func //'); do
		echo "fuzz $pkg $target ($fuzztime)"
		fuzz=(go test "$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime")
		if ! out=$("${fuzz[@]}" 2>&1); then
			echo "$out"
			# On a loaded machine the fuzzing engine can hit its own deadline
			# while stopping a busy worker ("context deadline exceeded") without
			# any failing input: that run proved nothing either way, so it runs
			# once more. A real finding writes its input and fails at once.
			if grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
				echo "fuzz $pkg $target: the engine timed out stopping, no failing input; once more"
				"${fuzz[@]}"
			else
				exit 1
			fi
		else
			echo "$out"
		fi
	done
done
