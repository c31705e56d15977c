#!/usr/bin/env bash
# Installs what `make test` needs, pinned, into $BERTH_TOOLS_DIR/bin
# (default ~/.cache/berth-tools/bin): staticcheck and the real OCI clients
# that test/e2e drives. Go builds are cached (one stamp file per tool and
# version), Debian packages are checked with dpkg: a second run only checks
# versions and prints one line. Called by `make test` (scripts/test.sh);
# safe to run by hand. Debian packages need root: without it, a missing
# package fails at once, naming the command to run.
#
#   scripts/install-test-tools.sh            everything
#   scripts/install-test-tools.sh go         only the Go-built tools (no root needed)
#   scripts/install-test-tools.sh apt        only the Debian packages (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
started=$SECONDS
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
  # versitygw: an S3 gateway onto a local directory for the S3 blob store
  # tests (test/s3server starts it on 127.0.0.1)
  "versitygw github.com/versity/versitygw/cmd/versitygw v1.8.0"
  # registry: the reference registry (distribution) as a replication peer and
  # proxy-cache upstream (test/distserver starts it on 127.0.0.1)
  "registry github.com/distribution/distribution/v3/cmd/registry v3.1.2"
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
  # OpenLDAP for the identity tests: test/ldapserver runs its own slapd
  # (own slapd.conf, 127.0.0.1, ldap:// and ldaps://); the packaged
  # service is not used.
  "slapd *"
  "ldap-utils *"
  # promtool (/usr/bin/promtool) checks and unit-tests
  # deploy/prometheus/berth-rules.yml (test/deploy); the packaged
  # Prometheus service is not used.
  "prometheus 2.42.0"
)

# apt_missing prints the Debian packages to install, one a line.
apt_missing() {
  local name ver have
  for spec in "${APT_TOOLS[@]}"; do
    read -r name ver <<<"$spec"
    have=$(dpkg-query -W -f '${Status} ${Version}' "$name" 2>/dev/null || true)
    case "$have" in
      "install ok installed $ver"*) continue ;;
      "install ok installed "*) [ "$ver" = "*" ] && continue ;;
    esac
    if [ "$ver" = "*" ]; then echo "$name"; else echo "$name=$ver*"; fi
  done
  # PostgreSQL 15 for the PostgreSQL metadata store tests: test/pgserver runs
  # initdb and pg_ctl from /usr/lib/postgresql/15/bin to start throwaway
  # servers on 127.0.0.1 (the cluster the package may create is not used).
  [ -x /usr/lib/postgresql/15/bin/initdb ] || echo postgresql
  # nginx for the high-availability test: test/ha runs its own nginx
  # (-p PREFIX -c CONF, 127.0.0.1) in front of three berth replicas; the
  # system service the package may set up is not used.
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || echo nginx
  # Chromium for the web UI's browser test (internal/ui, driven headless
  # through chromedp).
  command -v chromium >/dev/null || [ -x /usr/bin/chromium ] || echo chromium
  # A CJK font, so the Simplified Chinese pages' screenshots are readable
  # (the tests check the text itself; without it Chinese shows as boxes).
  [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || echo fonts-wqy-zenhei
}

# apt_install installs what apt_missing names. Without root it fails at once
# with one line naming the command that installs them.
apt_install() {
  local missing
  mapfile -t missing < <(apt_missing)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages (${missing[*]}): install them with sudo scripts/install-test-tools.sh apt" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ -x /usr/lib/postgresql/15/bin/initdb ] || { echo "postgresql installed, but not version 15 (/usr/lib/postgresql/15/bin/initdb missing)" >&2; exit 1; }
  [ -x /usr/sbin/nginx ] || command -v nginx >/dev/null || { echo "nginx installed, but /usr/sbin/nginx is missing" >&2; exit 1; }
  command -v chromium >/dev/null || { echo "chromium installed, but not on PATH" >&2; exit 1; }
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

# The Debian packages first: if they cannot be installed (not root), fail
# before spending minutes on Go builds.
if [ "$what" = all ] || [ "$what" = apt ]; then
  apt_install
fi
if [ "$what" = all ] || [ "$what" = go ]; then
  for spec in "${GO_TOOLS[@]}"; do
    # shellcheck disable=SC2086
    go_install $spec
  done
fi
echo "test tools ready in $TOOLS/bin (checked in $((SECONDS - started))s)"
