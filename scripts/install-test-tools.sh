#!/usr/bin/env bash
# Installs what `make test` needs, pinned, into $BERTH_TOOLS_DIR/bin
# (default ~/.cache/berth-tools/bin): staticcheck and the real OCI clients
# that test/e2e drives. Go builds are cached (one stamp file per tool and
# version), Debian packages are checked with dpkg: a second run only checks
# versions. Called by .ci/run; safe to run by hand.
#
#   scripts/install-test-tools.sh            everything
#   scripts/install-test-tools.sh go         only the Go-built tools
#   scripts/install-test-tools.sh apt        only the Debian packages
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
mkdir -p "$TOOLS/bin"
export GOBIN="$TOOLS/bin"
what=${1:-all}

# Go tools: name, package, version. A plain `go install pkg@version` is tried
# first; when the module proxy refuses it, the same package is built from a
# scratch module that requires it (see shared/TOOLING.md).
GO_TOOLS=(
  "staticcheck honnef.co/go/tools/cmd/staticcheck v0.8.2"
  "crane github.com/google/go-containerregistry/cmd/crane v0.22.1"
  "oras oras.land/oras/cmd/oras v1.3.6"
  "regctl github.com/regclient/regclient/cmd/regctl v0.11.7"
  "helm helm.sh/helm/v3/cmd/helm v3.22.0"
  "notation github.com/notaryproject/notation/cmd/notation v1.3.2"
  "cosign github.com/sigstore/cosign/v2/cmd/cosign v2.6.5"
  # pebble: a real local ACME server for the TLS/ACME test (internal/app)
  "pebble github.com/letsencrypt/pebble/v2/cmd/pebble v2.10.1"
)
# Debian packages, pinned by upstream version (the Debian revision may move
# with security updates). containerd provides `ctr`.
APT_TOOLS=(
  "skopeo 1.9.3"
  "podman 4.3.1"
  "buildah 1.28.2"
  "containerd 1.6.20"
  "curl *"
  "docker-compose *" # test/deploy: docker-compose config of deploy/docker-compose.yml
)

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else echo "need root for: $*" >&2; return 1; fi
}

apt_install() {
  local missing=() name ver have
  for spec in "${APT_TOOLS[@]}"; do
    read -r name ver <<<"$spec"
    have=$(dpkg-query -W -f '${Status} ${Version}' "$name" 2>/dev/null || true)
    case "$have" in
      "install ok installed $ver"*) continue ;;
      "install ok installed "*) [ "$ver" = "*" ] && continue ;;
    esac
    if [ "$ver" = "*" ]; then missing+=("$name"); else missing+=("$name=$ver*"); fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

go_install() { # name package version
  local name=$1 pkg=$2 ver=$3 stamp="$TOOLS/bin/.$1-$3"
  if [ -f "$stamp" ] && [ -x "$TOOLS/bin/$name" ]; then return 0; fi
  local start=$SECONDS
  echo "installing $name $ver ($pkg)"
  if ! go install "$pkg@$ver" 2>"$TOOLS/.$name.log"; then
    echo "  plain go install refused ($(tail -n1 "$TOOLS/.$name.log")); building from a scratch module"
    local dir
    dir=$(mktemp -d)
    (cd "$dir" && go mod init scratch >/dev/null 2>&1 && go get "$pkg@$ver" &&
      go build -trimpath -o "$TOOLS/bin/$name" "$pkg") || { rm -rf "$dir"; return 1; }
    rm -rf "$dir"
  fi
  rm -f "$TOOLS/bin/.$name-"* "$TOOLS/.$name.log"
  touch "$stamp"
  echo "  $name $ver ready in $((SECONDS - start))s"
}

if [ "$what" = all ] || [ "$what" = apt ]; then
  apt_install
fi
if [ "$what" = all ] || [ "$what" = go ]; then
  for spec in "${GO_TOOLS[@]}"; do
    # shellcheck disable=SC2086
    go_install $spec
  done
fi
# PostgreSQL 15 (Debian package) for the PostgreSQL metadata store tests:
# test/pgserver runs initdb and pg_ctl from /usr/lib/postgresql/15/bin to
# start throwaway servers on 127.0.0.1 (the cluster the package may create
# and start is not used). Self-contained: needs root only when missing.
if [ "$what" = all ] || [ "$what" = apt ]; then
  PG_BIN=/usr/lib/postgresql/15/bin
  if [ ! -x "$PG_BIN/initdb" ]; then
    if [ "$(id -u)" != 0 ]; then echo "PostgreSQL 15 missing and not root: apt-get install postgresql" >&2; exit 1; fi
    echo "installing PostgreSQL 15 (postgresql)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    [ -x "$PG_BIN/initdb" ] || { echo "postgresql installed, but not version 15 ($PG_BIN/initdb missing)" >&2; exit 1; }
  fi
fi
# versitygw (S3 gateway onto a local directory) for the S3 blob store tests:
# test/s3server starts it on 127.0.0.1 with a temporary directory. Pinned,
# built once (a few minutes), stamped like the tools above.
if [ "$what" = all ] || [ "$what" = go ]; then
  go_install versitygw github.com/versity/versitygw/cmd/versitygw v1.8.0
fi
# nginx (Debian package) for the high-availability test: test/ha runs its
# own nginx (-p PREFIX -c CONF, one process, 127.0.0.1) in front of three
# berth replicas; the system service the package may set up is not used.
# Self-contained: needs root only when missing.
if [ "$what" = all ] || [ "$what" = apt ]; then
  if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    if [ "$(id -u)" != 0 ]; then echo "nginx missing and not root: apt-get install nginx" >&2; exit 1; fi
    echo "installing nginx"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
    [ -x /usr/sbin/nginx ] || { echo "nginx installed, but /usr/sbin/nginx is missing" >&2; exit 1; }
  fi
fi
echo "tools ready in $TOOLS/bin: $(ls "$TOOLS/bin" | tr '\n' ' ')"
