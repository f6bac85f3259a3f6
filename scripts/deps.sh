# Sourced by scripts/run, scripts/test and the benches: installs what is missing.
# Debian packages only; apt-get update runs only when something has to be installed.
relay_install() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null
    # policy-rc.d keeps the packaged redis/nginx services from starting: tests run their own.
    if [ -z "$sudo" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        local rc=$?
        rm -f /usr/sbin/policy-rc.d
        return $rc
    fi
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

RELAY_BUILD_DEPS=(gcc make cmake pkg-config libevent-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
                  libjansson-dev libhiredis-dev libjemalloc-dev libcmocka-dev redis-server redis-sentinel
                  python3 openssl curl)
# bench/ingest and bench/pipeline compare against nginx and load with wrk.
RELAY_BENCH_DEPS=(wrk nginx-light)
# The dashboard's browser test drives Debian's chromium headless (tests/browser/cdp.py); the
# monitoring tests check deploy/prometheus with promtool, which Debian ships in prometheus.
RELAY_TEST_DEPS=(chromium prometheus)
