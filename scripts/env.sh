# Sourced by the scripts: repository root and the native Foundry binaries.
# The npm launchers in node_modules/.bin always exit 0, even when tests fail; never call them.
VERINFER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export VERINFER_ROOT

foundry_bin() {
    local tool="$1" native="$VERINFER_ROOT/node_modules/@foundry-rs/$1-linux-amd64/bin/$1"
    if [ -x "$native" ]; then
        echo "$native"
    elif command -v "$tool" >/dev/null 2>&1 && [ "$(command -v "$tool")" != "$VERINFER_ROOT/node_modules/.bin/$tool" ]; then
        command -v "$tool"
    else
        echo "error: native $tool not found; run scripts/setup.sh" >&2
        return 1
    fi
}
