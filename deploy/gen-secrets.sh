#!/bin/sh
# Writes what deploy/docker-compose.yml needs, keeping anything already there:
#   DIR/.env                  POSTGRES_PASSWORD, S3_SECRET_KEY, BERTH_ADMIN_PASSWORD (random)
#   DIR/secrets/token.key     PEM EC P-256 key signing registry tokens (shared by the replicas)
#   DIR/secrets/session.key   32 random bytes, hex, signing API sessions (shared by the replicas)
# DIR defaults to this script's directory. Needs openssl.
set -eu
dir=${1:-$(dirname "$0")}
umask 077
mkdir -p "$dir/secrets"
[ -s "$dir/secrets/token.key" ] || openssl ecparam -name prime256v1 -genkey -noout -out "$dir/secrets/token.key"
[ -s "$dir/secrets/session.key" ] || openssl rand -hex 32 >"$dir/secrets/session.key"
# Compose bind-mounts these files; berth runs as uid 65532, so they must be
# readable by it. The directory stays private (0700) on the host.
chmod 0644 "$dir/secrets/token.key" "$dir/secrets/session.key"
if [ ! -s "$dir/.env" ]; then
  {
    echo "POSTGRES_PASSWORD=$(openssl rand -hex 16)"
    echo "S3_SECRET_KEY=$(openssl rand -hex 16)"
    echo "BERTH_ADMIN_PASSWORD=$(openssl rand -hex 12)"
  } >"$dir/.env"
fi
echo "secrets in $dir/secrets, passwords in $dir/.env"
