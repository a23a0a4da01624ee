# shellcheck shell=bash
# Makes sure `jq` is installed: scripts/bench-peers reads its results with it, and CI checks
# the script's target check on fixed figures (tests/cli_bench.rs). Sourced by .ci/run; call
# ensure_jq.

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

ensure_jq() { ensure_command jq jq; }
