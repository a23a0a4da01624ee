# Makes sure PostgreSQL's server binaries (initdb, pg_ctl) are installed, for the private
# clusters that `sagaflow demo`, `serve --embedded` and the tests start on their own. Installs
# the package when missing on Debian; configures, starts and edits nothing.
# Sourced by .ci/run, scripts/test and scripts/demo.

pg_log() { printf '[postgres] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_binaries() {
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
        return 0
    fi
    if command -v apt-get >/dev/null 2>&1; then
        pg_log "PostgreSQL's server binaries are missing; installing the postgresql package with apt"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
    else
        pg_log "PostgreSQL's server binaries are missing; install them with your package manager, for example: brew install postgresql (macOS), dnf install postgresql-server (Fedora)"
        return 1
    fi
}
