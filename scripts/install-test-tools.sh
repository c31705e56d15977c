#!/usr/bin/env bash
# Installs what `make test` needs, pinned, into $BERTH_TOOLS_DIR/bin
# (default ~/.cache/berth-tools/bin). Builds are cached: a second run only
# checks versions. Called by .ci/run; safe to run by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
mkdir -p "$TOOLS/bin"
export GOBIN="$TOOLS/bin"

STATICCHECK_MODULE_VERSION=v0.8.2

need_apt=()
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing ${need_apt[*]} and not root: install them first" >&2; exit 1
  fi
fi

stamp="$TOOLS/bin/.staticcheck-$STATICCHECK_MODULE_VERSION"
if [ ! -f "$stamp" ] || [ ! -x "$TOOLS/bin/staticcheck" ]; then
  echo "installing staticcheck $STATICCHECK_MODULE_VERSION"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_MODULE_VERSION"
  touch "$stamp"
fi
echo "tools ready in $TOOLS/bin: $(ls "$TOOLS/bin" | tr '\n' ' ')"
