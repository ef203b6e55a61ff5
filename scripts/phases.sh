# Sourced by scripts/test.sh: named phases that print when they start and, at the end, how long each took; and
# background lanes of phases, each at the CPU priority it is given.
#
#   phase "name"        ends the current phase and starts another ("==> [lane] name (at Ns)")
#   phase_end           ends the current phase
#   lane_start FN [N]   runs function FN in the background at nice N (default 19), its output kept in a file
#   lane_wait           waits for every lane, prints each one's output, fails if any failed
#   phase_summary       prints the seconds each phase took
# A lane that fails prints its output at once, not only at lane_wait; a script that stops (a failure, Ctrl-C)
# stops its lanes with it and prints what they had done.

_PHASES=$(mktemp)  # lane <TAB> seconds <TAB> phase, one line per finished phase
_lane_name=main
_phase=""
_phase_start=0
_lane_pids=()
_lane_logs=()

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
    local log niceness=${2:-19}
    log=$(mktemp)
    # Job control on for this one job: the lane gets its own process group, so stopping it stops forge or Slither
    # too, not only the subshell.
    set -m
    (
        set +e
        renice -n "$niceness" -p "$BASHPID" >/dev/null
        # Not `( ... ) || rc=$?`: bash ignores `set -e` inside a command whose status a `||` tests.
        (
            set -euo pipefail
            _lane_name=$1
            _phase=""
            "$1"
        ) >"$log" 2>&1
        rc=$?
        if [ "$rc" -ne 0 ]; then
            printf '\n==> [%s] FAILED (exit %s) at %ss; its output:\n' "$1" "$rc" "$SECONDS"
            cat "$log"
        fi >&2
        exit "$rc"
    ) &
    _lane_pids+=("$!")
    _lane_logs+=("$log")
    set +m
    echo "==> [$1] started in the background at nice $niceness (at ${SECONDS}s); its output follows when it ends"
}

lane_wait() {
    local i rc failed=0
    for i in "${!_lane_pids[@]}"; do
        rc=0
        wait "${_lane_pids[$i]}" || rc=$?
        _lane_pids[$i]=""
        if [ "$rc" -ne 0 ]; then
            failed=$rc
        else
            cat "${_lane_logs[$i]}"
        fi
    done
    if [ "$failed" -ne 0 ]; then
        echo "error: a background lane failed (exit $failed); its output is above" >&2
        exit "$failed"
    fi
}

phase_summary() {
    echo "==> seconds per phase (lanes overlap; total ${SECONDS}s):"
    awk -F'\t' '{ printf "  %-6s %5ss  %s\n", $1, $2, $3 }' "$_PHASES"
}

_phases_on_exit() {
    local rc=$? i pid
    phase_end
    for i in "${!_lane_pids[@]}"; do
        pid=${_lane_pids[$i]}
        [ -n "$pid" ] || continue
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            echo "==> a background lane was stopped; its output so far:" >&2
        else
            echo "==> a background lane had ended; its output:" >&2
        fi
        wait "$pid" 2>/dev/null || true
        cat "${_lane_logs[$i]}" >&2
    done
    [ "$rc" -eq 0 ] || phase_summary
    rm -f "$_PHASES" "${_lane_logs[@]}"
    exit "$rc"
}
trap _phases_on_exit EXIT
