# shellcheck shell=bash
# Makes sure Debian's `prometheus` package is installed for its `promtool`, which CI uses to
# check the live /metrics output, the alert rules and their unit tests, and every dashboard
# query. Only promtool is used: the package's service is never started here. Sourced by
# .ci/run; call ensure_prometheus.

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_prometheus() { ensure_command promtool prometheus; }
