#!/usr/bin/env bash
# Builds the container image with podman (no Docker engine needed) and checks that it works:
# relay --version, then the relay from the image against a redis-server on loopback answers
# /healthz, the image's HEALTHCHECK passes, and a signed webhook gets 202 and lands in Redis.
# Follows ../shared/notes/containers.md. Needs root (apt-get, debootstrap). Prints its wall time.
# Env: RELAY_IMAGE (default localhost/relay:test), KEEP_IMAGE=1 keeps the image afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
start=$(date +%s)
IMAGE=${RELAY_IMAGE:-localhost/relay:test}
BASE_IMAGE=localhost/debian:bookworm

. scripts/deps.sh
relay_install podman runc debootstrap redis-server python3 curl

tmp=$(mktemp -d /tmp/relay-container.XXXXXX)
redis_pid=""
ctr=""
P=""
cleanup() {
    set +e
    [ -n "$ctr" ] && $P rm -f -t 2 "$ctr" >/dev/null 2>&1
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    [ -z "${KEEP_IMAGE:-}" ] && [ -n "$P" ] && $P rmi -f "$IMAGE" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

# The sandbox forbids podman's default rlimits and its cgroup v2 handling.
printf '[containers]\ndefault_ulimits = []\n' > "$tmp/containers.conf"
export CONTAINERS_CONF="$tmp/containers.conf"
P="podman --runtime runc --cgroup-manager=cgroupfs"

step() { echo "== $* ($(( $(date +%s) - start ))s)"; }

# Lint the Dockerfile when a linter is installed (hadolint is not packaged in Debian).
if command -v hadolint >/dev/null; then
    step "hadolint"
    hadolint Dockerfile
fi

# 1. Base image from Debian packages, cached across runs.
if ! $P image exists "$BASE_IMAGE"; then
    step "debootstrap $BASE_IMAGE"
    mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
                 /etc/apt/sources.list 2>/dev/null \
             | grep -oE 'https?://[^ ]*/debian/?' | grep -v -- '-security' | head -1 || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    echo "mirror: $mirror"
    debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" >"$tmp/debootstrap.log" 2>&1 \
        || { tail -20 "$tmp/debootstrap.log"; exit 1; }
    # Like debian:bookworm-slim: no package lists or .debs in the base.
    rm -rf "$tmp"/rootfs/var/lib/apt/lists/* "$tmp"/rootfs/var/cache/apt/*.bin \
           "$tmp"/rootfs/var/cache/apt/archives/*.deb
    tar -C "$tmp/rootfs" -c . | $P import - "$BASE_IMAGE" >/dev/null 2>&1
    rm -rf "$tmp/rootfs"
fi

# 2. The image.
step "build $IMAGE"
$P build --network host --isolation chroot --build-arg BASE="$BASE_IMAGE" -t "$IMAGE" . \
    >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log"; exit 1; }
$P image inspect "$IMAGE" --format 'size {{.Size}} bytes, user {{.Config.User}}, cmd {{.Config.Cmd}}'

# 3. The programs run, as the non-root user.
step "run --version"
$P run --rm --network host "$IMAGE" relay --version
$P run --rm --network host "$IMAGE" relay-worker --version
$P run --rm --network host "$IMAGE" relayctl --version
uid=$($P run --rm --network host "$IMAGE" id -u)
[ "$uid" != 0 ] || { echo "FAIL: container runs as root"; exit 1; }

# 4. The relay from the image against a redis-server on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
relay_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$tmp" --save '' --appendonly yes \
    --appendfsync everysec --loglevel warning >"$tmp/redis.log" 2>&1 &
redis_pid=$!
for _ in $(seq 100); do redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done

secret="container-test-secret-$$-$RANDOM"
mkdir -p "$tmp/etc"
cat > "$tmp/etc/relay.json" <<JSON
{
  "listen": "127.0.0.1:$relay_port",
  "redis": { "url": "redis://127.0.0.1:$redis_port/0", "prefix": "relay" },
  "log": { "level": "info" },
  "sources": {
    "encora": {
      "kind": "encorastream",
      "web_url": "https://watch.example.com/{type}s/{slug}",
      "signature": { "scheme": "hmac-sha256-hex", "header": "X-Encora-Signature-256",
                     "secrets": ["file:/run/secrets/encora_webhook_secret"] },
      "api": { "base_url": "http://127.0.0.1:9/v2", "auth": { "type": "none" } }
    }
  },
  "targets": { "archive": { "format": "canonical", "url": "http://127.0.0.1:9/archive/{id}" } }
}
JSON
printf '%s\n' "$secret" > "$tmp/etc/encora_webhook_secret"
chmod 644 "$tmp/etc/relay.json" "$tmp/etc/encora_webhook_secret"

step "relay --check-config in the image"
$P run --rm --network host -v "$tmp/etc/relay.json:/etc/relay/relay.json:ro" \
    -v "$tmp/etc/encora_webhook_secret:/run/secrets/encora_webhook_secret:ro" \
    "$IMAGE" relay --check-config

step "relay from the image"
ctr=$($P run -d --network host -v "$tmp/etc/relay.json:/etc/relay/relay.json:ro" \
    -v "$tmp/etc/encora_webhook_secret:/run/secrets/encora_webhook_secret:ro" "$IMAGE")
ok=""
for _ in $(seq 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$relay_port/healthz" 2>/dev/null; then ok=1; break; fi
    sleep 0.1
done
[ -n "$ok" ] || { echo "FAIL: /healthz did not answer"; $P logs "$ctr"; exit 1; }
echo "/healthz: 200"

# The image's own HEALTHCHECK command (reads the listen address from the config).
$P exec "$ctr" /usr/local/bin/relay-healthcheck || { echo "FAIL: HEALTHCHECK command"; exit 1; }
echo "HEALTHCHECK command: ok"

body='{"id":"evt_container_1","type":"content.published","created_at":"2026-11-20T10:00:00Z","data":{"content_type":"movie","content_id":"497f6eca-6276-4993-bfeb-53cbbbba6f08"}}'
sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
code=$(curl -sS -o "$tmp/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "X-Encora-Signature-256: sha256=$sig" --data-binary "$body" \
    "http://127.0.0.1:$relay_port/webhooks/encora")
echo "signed webhook: $code $(cat "$tmp/resp")"
[ "$code" = 202 ] || { echo "FAIL: expected 202"; $P logs "$ctr"; exit 1; }
len=$(redis-cli -p "$redis_port" XLEN relay:events)
[ "$len" = 1 ] || { echo "FAIL: expected 1 event in relay:events, got $len"; exit 1; }
echo "relay:events length: $len"
bad=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -H "X-Encora-Signature-256: sha256=00" --data-binary "$body" \
    "http://127.0.0.1:$relay_port/webhooks/encora")
[ "$bad" = 401 ] || { echo "FAIL: bad signature answered $bad"; exit 1; }

# SIGTERM (podman stop) ends the relay cleanly with exit 0.
$P stop -t 15 "$ctr" >/dev/null
rc=$($P inspect "$ctr" --format '{{.State.ExitCode}}')
[ "$rc" = 0 ] || { echo "FAIL: relay exited $rc on SIGTERM"; $P logs "$ctr"; exit 1; }
if $P logs "$ctr" 2>&1 | grep -q "$secret"; then echo "FAIL: secret in logs"; exit 1; fi

# relayctl from the same image talks to the same Redis.
$P run --rm --network host -v "$tmp/etc/relay.json:/etc/relay/relay.json:ro" \
    -v "$tmp/etc/encora_webhook_secret:/run/secrets/encora_webhook_secret:ro" "$IMAGE" relayctl stats

echo "tests/container/test_image.sh: passed in $(( $(date +%s) - start ))s"
