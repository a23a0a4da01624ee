# Makes sure Debian's headless Chromium and its WebDriver are installed, for the console's
# browser tests (tests/it/browser_console.rs). Sourced by .ci/run; call ensure_browser.

browser_log() { printf '[browser] %s\n' "$*" >&2; }

ensure_browser() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        return 0
    fi
    browser_log "installing chromium and chromium-driver with apt"
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core
    if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
        browser_log "chromium or chromedriver is still missing after apt-get install"
        return 1
    fi
}
