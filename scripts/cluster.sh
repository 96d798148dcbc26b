#!/usr/bin/env bash
# A local Natter cluster to try: its own PostgreSQL and NATS, three nodes, and nginx in front at
# http://127.0.0.1:3000 spreading HTTP and WebSocket connections over the nodes (round robin, no
# sticky sessions). Everything lives under ./data/cluster and stops with Ctrl-C.
#
# Ports (change with the environment variables): nginx NATTER_CLUSTER_PORT (3000), the nodes
# NATTER_CLUSTER_NODE_PORTS ("3101 3102 3103"), PostgreSQL NATTER_CLUSTER_PG_PORT (55432) and NATS
# NATTER_CLUSTER_NATS_PORT (54222), away from the machine's own services. NATTER_CLUSTER_DIR moves
# ./data/cluster; NATTER_CLUSTER_BINARY runs a natter binary already built (with its site in
# target/site) instead of building the release site, as the test command does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

PORT=${NATTER_CLUSTER_PORT:-3000}
PG_PORT=${NATTER_CLUSTER_PG_PORT:-55432}
NATS_PORT=${NATTER_CLUSTER_NATS_PORT:-54222}
read -r -a NODE_PORTS <<<"${NATTER_CLUSTER_NODE_PORTS:-3101 3102 3103}"
DIR=${NATTER_CLUSTER_DIR:-$PWD/data/cluster}
BINARY=${NATTER_CLUSTER_BINARY:-target/release/natter}
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
say() { printf '[cluster] %s\n' "$*"; }

# PostgreSQL refuses to run as root: it runs as the postgres user that Debian's package creates.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if [ -z "${NATTER_CLUSTER_BINARY:-}" ]; then
  say "building the release site"
  cargo leptos build --release
fi
mkdir -p "$DIR"

PIDS=()
stop() {
  say "stopping"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  as_postgres "$PG_BIN/pg_ctl" -D "$DIR/pg" -m fast stop >/dev/null 2>&1 || true
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM

if [ ! -d "$DIR/pg" ]; then
  say "creating a PostgreSQL cluster in $DIR/pg"
  mkdir -p "$DIR/pg"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR/pg"
  as_postgres "$PG_BIN/initdb" --auth=trust --username=postgres -D "$DIR/pg" >/dev/null
fi
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR"
say "PostgreSQL on port $PG_PORT"
as_postgres "$PG_BIN/pg_ctl" -D "$DIR/pg" -l "$DIR/postgres.log" -w \
  -o "-p $PG_PORT -k $DIR -c listen_addresses=127.0.0.1" start >/dev/null
"$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'natter'" | grep -q 1 ||
  "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE natter"

say "NATS on port $NATS_PORT"
NATS=$(command -v nats-server || echo /usr/sbin/nats-server)
"$NATS" -a 127.0.0.1 -p "$NATS_PORT" >"$DIR/nats.log" 2>&1 &
PIDS+=($!)

for port in "${NODE_PORTS[@]}"; do
  say "node on port $port"
  LEPTOS_SITE_ROOT=target/site "$BINARY" \
    --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$PORT" \
    --database-url "postgres://postgres@127.0.0.1:$PG_PORT/natter" \
    --nats-url "nats://127.0.0.1:$NATS_PORT" --trusted-proxies 127.0.0.1 >"$DIR/node-$port.log" 2>&1 &
  PIDS+=($!)
done

UPSTREAMS=$(printf '    server 127.0.0.1:%s;\n' "${NODE_PORTS[@]}")
cat >"$DIR/nginx.conf" <<EOF
daemon off;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream natter {
$UPSTREAMS
  }
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:$PORT;
    location / {
      proxy_pass http://natter;
      proxy_http_version 1.1;
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_read_timeout 1h;
    }
  }
}
EOF
say "nginx on port $PORT"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
"$NGINX" -c "$DIR/nginx.conf" -p "$DIR" &
PIDS+=($!)

for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
say "ready: open http://127.0.0.1:$PORT in two browsers (one private) and chat; logs in $DIR"
wait -n "${PIDS[@]}"
say "a process of the cluster stopped; see the logs in $DIR"
