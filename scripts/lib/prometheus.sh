# Makes sure Debian's `prometheus` package is installed for its `promtool`, which CI uses to
# check the live /metrics output, the alert rules and their unit tests, and every dashboard
# query. Sourced by .ci/run; call ensure_prometheus.

prometheus_log() { printf '[prometheus] %s\n' "$*" >&2; }

ensure_prometheus() {
    if command -v promtool >/dev/null 2>&1; then
        return 0
    fi
    prometheus_log "installing prometheus (for promtool) with apt"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # Only promtool is used: the package's service is never started here.
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
    if ! command -v promtool >/dev/null 2>&1; then
        prometheus_log "promtool is still missing after apt-get install"
        return 1
    fi
}
