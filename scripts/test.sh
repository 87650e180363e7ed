#!/usr/bin/env bash
# Runs opentrail's whole test suite, installing what the tests need first.
# Safe to run again and again: installs are skipped when already done.
#
#   ./scripts/test.sh            everything (what CI runs)
#   FUZZTIME=2000x ./scripts/test.sh   a longer fuzzing budget per target
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
apt_install() {
	if [ -z "$apt_updated" ]; then
		as_root apt-get update -qq
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@"
}

log "tools"
go version
if ! command -v aws >/dev/null 2>&1; then
	echo "the aws CLI is missing: installing Debian's awscli"
	apt_install awscli
fi
aws --version
export PATH="$(go env GOPATH)/bin:$PATH"
if ! command -v versitygw >/dev/null 2>&1; then
	echo "installing versitygw (a real S3-compatible server for the bucket tests)"
	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi
command -v versitygw
if ! command -v chromium >/dev/null 2>&1; then
	echo "installing Debian's chromium (the console's browser tests)"
	apt_install chromium
fi
command -v chromium
if ! command -v firefox-esr >/dev/null 2>&1 && ! command -v firefox >/dev/null 2>&1; then
	echo "installing Debian's firefox-esr (the console's Firefox test)"
	apt_install firefox-esr
fi
command -v firefox-esr || command -v firefox

log "gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

log "go vet"
go vet ./...

log "tests (with the race detector where there is concurrency)"
go test -race -count=1 ./journal/ ./history/ ./api/... ./sigv4/ ./delivery/ ./sns/ ./blob/... ./integrity/... ./kms/ ./lake/ ./lakeingest/ ./cmd/opentrail/
go test -count=1 $(go list ./... | grep -v -e /journal$ -e /history$ -e /api -e /sigv4$ -e /delivery$ -e /sns$ -e /blob -e /integrity -e /kms$ -e /lake$ -e /lakeingest$ -e /cmd/opentrail$)

log "fuzzing (a short budget per target)"
FUZZTIME=${FUZZTIME:-300x}
while read -r pkg target; do
	echo "fuzz $pkg $target"
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="$FUZZTIME" "$pkg" >/dev/null
done < <(go test -list='^Fuzz' ./... | awk '/^Fuzz/ {names[n++]=$1} /^ok/ {for (i=0; i<n; i++) print $2, names[i]; n=0}')

log "all tests passed"
