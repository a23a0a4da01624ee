# shellcheck shell=bash
# Installs a Debian package when the command it provides is missing: the one install step the
# CI tool scripts (jq.sh, prometheus.sh) share. Sourced; call ensure_command CMD PACKAGE.

ensure_command() {
    local cmd=$1 package=$2
    if command -v "$cmd" >/dev/null 2>&1; then
        return 0
    fi
    printf '[%s] installing %s with apt\n' "$cmd" "$package" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package"
    if ! command -v "$cmd" >/dev/null 2>&1; then
        printf '[%s] still missing after apt-get install %s\n' "$cmd" "$package" >&2
        return 1
    fi
}
