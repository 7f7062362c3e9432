#!/usr/bin/env bash
# Build SeaweedFS's `weed` (the cluster profile's S3 object store) into .local/bin/weed.
#
# SeaweedFS is published only as Go source: `go install` refuses it (its go.mod has replace
# directives), so the pinned module is downloaded from the Go module proxy with
# `go mod download` and built inside the module cache. The first build takes about five
# minutes; Go's module and build caches make a rebuild fast. Idempotent: a stamp next to
# the binary records the module version it was built from, and a matching one skips
# everything.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

MODULE=github.com/seaweedfs/seaweedfs
# A pseudo-version (the project tags its releases outside Go's versioning): weed 4.53.
VERSION=v0.0.0-20261109003541-7506e5f91cd6
BIN="$LOCAL/bin/weed"
STAMP="$BIN.version"

if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$MODULE@$VERSION" ]; then
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go is missing: SeaweedFS (the cluster profile's object store) is built from source with Go 1.26.6 or newer (https://go.dev/doc/install, or a golang-go Debian package that new)"
mkdir -p "$LOCAL/bin" "$LOGS"
# GOTOOLCHAIN=local: a Go older than the module asks for fails with that message instead
# of trying to download a toolchain.
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false
say "downloading $MODULE@$VERSION from the Go module proxy"
go mod download -json "$MODULE@$VERSION" >"$LOGS/weed-download.json" 2>"$LOGS/weed-build.log" \
  || die "go mod download $MODULE@$VERSION failed (Go module proxy unreachable?), see $LOGS/weed-build.log and $LOGS/weed-download.json"
# The module's folder in Go's module cache ("Dir" of the JSON answer).
dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$LOGS/weed-download.json")
[ -d "$dir" ] || die "go mod download named no module folder, see $LOGS/weed-download.json"
say "building weed (about five minutes the first time), log in $LOGS/weed-build.log"
(cd "$dir" && go build -o "$BIN.tmp" ./weed) >>"$LOGS/weed-build.log" 2>&1 \
  || { rm -f "$BIN.tmp"; die "building weed failed, see $LOGS/weed-build.log"; }
"$BIN.tmp" version >>"$LOGS/weed-build.log" 2>&1 || die "the weed just built does not run, see $LOGS/weed-build.log"
mv "$BIN.tmp" "$BIN"
echo "$MODULE@$VERSION" >"$STAMP"
say "weed built: $("$BIN" version 2>&1 | head -1)"
