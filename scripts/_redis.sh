# Sourced by scripts/test.sh: a throwaway Redis on 127.0.0.1, stopped by stop_redis.
# Sets and exports TEST_REDIS_URL. Installs Debian's redis-server package when it is missing.
if ! command -v redis-server >/dev/null 2>&1; then
  echo "== installing redis-server (apt)"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >/dev/null
fi
REDIS_DIR=$(mktemp -d /tmp/flask-registration-redis.XXXXXX)
REDIS_PORT=${REDIS_PORT:-$(( 10000 + RANDOM % 10000 ))}
# No persistence, loopback only; --daemonize writes the pid file we stop it by.
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
  --dir "$REDIS_DIR" --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/log" --daemonize yes
for _ in $(seq 1 100); do
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null || { echo "redis-server did not start" >&2; cat "$REDIS_DIR/log" >&2; exit 1; }
stop_redis() {
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  local pid; pid=$(cat "$REDIS_DIR/redis.pid" 2>/dev/null || true)
  if [ -n "$pid" ]; then
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$REDIS_DIR"
}
export TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
echo "== Redis $(redis-server --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$REDIS_PORT"
