# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for local TCP,
# installing and starting it on a fresh Debian machine. Sourced by .ci/run and scripts/demo.

pg_log() { printf '[postgres] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

pg_install() {
    if command -v pg_ctlcluster >/dev/null 2>&1; then return 0; fi
    pg_log "PostgreSQL is not installed; installing it with apt"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-client
}

# Makes sure PostgreSQL's server binaries (initdb, pg_ctl) are installed, for the private
# clusters `sagaflow demo` and `serve --embedded` start; configures nothing.
pg_binaries() {
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
        return 0
    fi
    if command -v apt-get >/dev/null 2>&1; then
        pg_install
    else
        pg_log "PostgreSQL's server binaries are missing; install them with your package manager (for example: brew install postgresql, dnf install postgresql-server)"
        return 1
    fi
}

pg_version() { ls /etc/postgresql | sort -V | tail -n 1; }

pg_trust_localhost() {
    local hba="/etc/postgresql/$(pg_version)/main/pg_hba.conf"
    if ! as_root grep -Eq '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba"; then
        pg_log "allowing trust auth on 127.0.0.1 in $hba (a local test server only)"
        as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        as_root sed -i '1i local all all trust' "$hba"
        return 1
    fi
}

pg_start() {
    if pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
    pg_log "starting the $(pg_version) cluster"
    as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main start || true
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 0.5
    done
    pg_log "PostgreSQL did not come up on 127.0.0.1:5432"
    return 1
}

ensure_postgres() {
    pg_install
    if ! pg_trust_localhost; then
        if pg_isready -q -h 127.0.0.1 -p 5432; then
            as_root pg_ctlcluster --skip-systemctl-redirect "$(pg_version)" main reload
        fi
    fi
    pg_start
    local psql_admin=(psql -h 127.0.0.1 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt)
    # The roles the docs and config name; create what is missing.
    for role in postgres root; do
        if ! "${psql_admin[@]}" -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'" | grep -q 1; then
            pg_log "creating role $role"
            "${psql_admin[@]}" -c "CREATE ROLE \"$role\" SUPERUSER LOGIN"
        fi
    done
    if ! "${psql_admin[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'sagaflow'" | grep -q 1; then
        pg_log "creating database sagaflow"
        "${psql_admin[@]}" -c "CREATE DATABASE sagaflow"
    fi
}

# Drops the per-test databases (and scratch bench databases) earlier runs left behind.
drop_test_databases() {
    local psql_admin=(psql -h 127.0.0.1 -U postgres -d postgres -qAt)
    "${psql_admin[@]}" -c "SELECT datname FROM pg_database WHERE datname LIKE 'sagaflow\_test\_%' OR datname ~ '_bench_[0-9a-f]{8}$'" |
        while read -r db; do
            [ -n "$db" ] && "${psql_admin[@]}" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
        done
}
