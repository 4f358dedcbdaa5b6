#!/usr/bin/env bash
# Checks the release process without publishing anything (called by .ci/run):
#   actionlint          the GitHub Actions workflows (.github/workflows; runs shellcheck on their
#                       scripts when shellcheck is installed)
#   goreleaser check    .goreleaser.yaml, with the GoReleaser version the release workflow pins
#   a snapshot release  every binary of the release (linux, darwin, windows; amd64, arm64), archived,
#                       with checksums that verify; the native binary prints the version stamped in
#   release notes       CHANGELOG.md has a section for the Helm chart's appVersion
# Both tools are built from the Go module proxy by `go run` (cached after the first build, which
# takes minutes), not added to go.mod. The image, SBOMs and signatures need a registry, syft,
# cosign and the workflow's OIDC identity: only the release workflow makes them.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
step() { printf '== [%3ds] %s\n' $((SECONDS - start)) "$*"; }

actionlint_version=v1.7.12
# The release workflow's pin, so that the check and the release run the same GoReleaser.
goreleaser_version=$(sed -n 's/^ *version: *\(v2\.[0-9]*\.[0-9]*\) *$/\1/p' .github/workflows/release.yml)
if [ -z "$goreleaser_version" ]; then
  echo "release-checks.sh: no 'version: v2.x.y' for goreleaser-action in .github/workflows/release.yml" >&2
  exit 1
fi
tool() { GOFLAGS= GOWORK=off go run "$@"; }

step "actionlint $actionlint_version"
tool "github.com/rhysd/actionlint/cmd/actionlint@$actionlint_version"

step "goreleaser $goreleaser_version check"
tool "github.com/goreleaser/goreleaser/v2@$goreleaser_version" check

step "release notes of the chart's appVersion"
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' deploy/helm/dispatch/Chart.yaml)
notes=$(bash scripts/release-notes.sh "v$app_version")
echo "v$app_version: $(wc -l <<<"$notes") lines from CHANGELOG.md"

step "goreleaser release --snapshot (no image, SBOM, signature or upload)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
tool "github.com/goreleaser/goreleaser/v2@$goreleaser_version" release --snapshot --clean --skip=docker,sbom,sign >"$log" 2>&1 ||
  { cat "$log"; exit 1; }
version=$(sed -n 's/.*"version":"\([^"]*\)".*/\1/p' dist/metadata.json)
[ -n "$version" ] || { echo "dist/metadata.json names no version" >&2; exit 1; }
missing=0
for os in linux darwin windows; do
  for arch in amd64 arm64; do
    ext=tar.gz
    [ "$os" = windows ] && ext=zip
    archive=dispatch_${version}_${os}_${arch}.$ext
    if [ ! -s "dist/$archive" ] || ! grep -q "  $archive\$" dist/checksums.txt; then
      echo "missing: dist/$archive, or its line in dist/checksums.txt" >&2
      missing=1
    fi
  done
done
[ "$missing" = 0 ] || exit 1
(cd dist && sha256sum --quiet -c checksums.txt)
native=$(ls -d dist/dispatch_"$(go env GOOS)"_"$(go env GOARCH)"*/ | head -1)
native=${native%/}
got=$("$native/dispatch" version)
if [ "$got" != "dispatch $version" ]; then
  echo "$native/dispatch version printed \"$got\", want \"dispatch $version\" (the -X ldflag of .goreleaser.yaml)" >&2
  exit 1
fi
echo "6 archives and checksums.txt of $version; $native/dispatch version: $got"
step "done"
