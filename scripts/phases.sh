# Sourced by scripts/test.sh: named phases that print when they start and, at the end, how long each took; and one
# background lane of phases at the lowest CPU priority.
#
#   phase "name"        ends the current phase and starts another ("==> [lane] name (at Ns)")
#   phase_end           ends the current phase
#   lane_start FN       runs function FN in the background at nice 19, its output kept in a file
#   lane_wait           waits for the lane, prints its output, fails if it failed
#   phase_summary       prints the seconds each phase took
# A lane that fails prints its output at once, not only at lane_wait; a script that stops (a failure, Ctrl-C)
# stops the lane with it and prints what the lane had done.

_PHASES=$(mktemp)  # lane <TAB> seconds <TAB> phase, one line per finished phase
_lane_name=main
_phase=""
_phase_start=0
_lane_pid=""
_lane_log=""

phase() {
    phase_end
    _phase="$*"
    _phase_start=$SECONDS
    echo "==> [$_lane_name] $* (at ${SECONDS}s)"
}

phase_end() {
    if [ -n "$_phase" ]; then
        printf '%s\t%s\t%s\n' "$_lane_name" "$((SECONDS - _phase_start))" "$_phase" >>"$_PHASES"
    fi
    _phase=""
}

lane_start() {
    _lane_log=$(mktemp)
    # Job control on for this one job: the lane gets its own process group, so stopping it stops forge or Slither
    # too, not only the subshell.
    set -m
    (
        set +e
        renice -n 19 -p "$BASHPID" >/dev/null
        # Not `( ... ) || rc=$?`: bash ignores `set -e` inside a command whose status a `||` tests.
        (
            set -euo pipefail
            _lane_name=$1
            _phase=""
            "$@"
        ) >"$_lane_log" 2>&1
        rc=$?
        if [ "$rc" -ne 0 ]; then
            printf '\n==> [%s] FAILED (exit %s) at %ss; its output:\n' "$1" "$rc" "$SECONDS"
            cat "$_lane_log"
        fi >&2
        exit "$rc"
    ) &
    _lane_pid=$!
    set +m
    echo "==> [$1] started in the background at nice 19 (at ${SECONDS}s); its output follows when it ends"
}

lane_wait() {
    local rc=0
    wait "$_lane_pid" || rc=$?
    _lane_pid=""
    if [ "$rc" -ne 0 ]; then
        echo "error: the background checks failed (exit $rc); their output is above" >&2
        exit "$rc"
    fi
    cat "$_lane_log"
}

phase_summary() {
    echo "==> seconds per phase (lanes overlap; total ${SECONDS}s):"
    awk -F'\t' '{ printf "  %-6s %5ss  %s\n", $1, $2, $3 }' "$_PHASES"
}

_phases_on_exit() {
    local rc=$?
    phase_end
    if [ -n "$_lane_pid" ]; then
        if kill -0 "$_lane_pid" 2>/dev/null; then
            kill -TERM -- "-$_lane_pid" 2>/dev/null || true
            echo "==> the background checks were stopped; their output so far:" >&2
        else
            echo "==> the background checks had ended; their output:" >&2
        fi
        wait "$_lane_pid" 2>/dev/null || true
        cat "$_lane_log" >&2
    fi
    [ "$rc" -eq 0 ] || phase_summary
    rm -f "$_PHASES" "$_lane_log"
    exit "$rc"
}
trap _phases_on_exit EXIT
