#!/usr/bin/env bash
# Prints the release notes of a tag: its section of CHANGELOG.md, without the heading. The release
# workflow passes them to GoReleaser (--release-notes); .ci/run checks the chart's appVersion has one.
#   bash scripts/release-notes.sh v0.1.0 > notes.md
# Fails when the CHANGELOG has no section for the version, or an empty one, or when the Helm chart's
# appVersion (the image `helm install` pulls) is another version: tag only what the chart runs.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:?usage: release-notes.sh vX.Y.Z}
version=${tag#v}
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "release-notes.sh: $tag is not a version tag like v1.2.3" >&2; exit 2
fi
chart=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' deploy/helm/dispatch/Chart.yaml)
if [ "$chart" != "$version" ]; then
  echo "release-notes.sh: deploy/helm/dispatch/Chart.yaml has appVersion \"$chart\", not \"$version\": set it (and bump the chart's version) before tagging" >&2
  exit 1
fi
# From "## [VERSION]" (any date after it) to the next "## [" heading, less the link definitions
# ("[0.1.0]: https://…") that end the file.
notes=$(awk -v v="$version" '
  index($0, "## [" v "]") == 1 { found = 1; next }
  found && /^## \[/ { exit }
  found && !/^\[[^]]+\]: / { print }
' CHANGELOG.md)
if [ -z "$(tr -d '[:space:]' <<<"$notes")" ]; then
  echo "release-notes.sh: CHANGELOG.md has no \"## [$version]\" section, or an empty one: move the [Unreleased] entries under \"## [$version] - $(date -u +%F)\"" >&2
  exit 1
fi
printf '%s\n' "$notes" | sed -e '/./,$!d' # without the blank lines after the heading
