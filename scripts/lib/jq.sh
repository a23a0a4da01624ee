# Makes sure `jq` is installed: scripts/bench-peers reads its results with it, and CI checks
# the script's target check on fixed figures (tests/cli_bench.rs). Sourced by .ci/run; call
# ensure_jq.

jq_log() { printf '[jq] %s\n' "$*" >&2; }

ensure_jq() {
    if command -v jq >/dev/null 2>&1; then
        return 0
    fi
    jq_log "installing jq with apt"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends jq
    if ! command -v jq >/dev/null 2>&1; then
        jq_log "jq is still missing after apt-get install"
        return 1
    fi
}
