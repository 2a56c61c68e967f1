#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on loopback for the runtime proofs and prints
# the URL to export as ASQ_TEST_POSTGRES_URL; `.ci/postgres.sh stop DIR` stops it.
# Installs the server from the distribution's packages when it is missing.
set -euo pipefail
port=${ASQ_POSTGRES_PORT:-54329}
if [ "${1:-start}" = stop ]; then
  runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/pg_ctl" -D "$2/data" -m fast stop >/dev/null
  rm -rf "$2"
  exit 0
fi
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
folder=$(mktemp -d /tmp/asq-postgres.XXXXXX)
chown postgres "$folder"
runuser -u postgres -- "$bin/initdb" -D "$folder/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$folder/data" -l "$folder/log" \
  -o "-k $folder -p $port -c listen_addresses=127.0.0.1 -c fsync=off" -w start >/dev/null
echo "$folder postgresql+asyncpg://postgres@127.0.0.1:$port/postgres"
