#!/usr/bin/env bash
# The advisory stages, one after another: py3.14 (which makes the Debian unstable tree the
# next two share), py3.15 and arm64. .ci/run starts this in the background as soon as the
# wheel stage has left the sdist in $CI_WORK/dist, so that these stages run on the second
# core beside the required ones; it prints this script's output at the end.
#   .ci/advisory.sh DEADLINE STATUS_FILE
# DEADLINE: the time (seconds since the epoch) by which every stage must have ended; each
# also has a limit of its own. One line per stage goes to STATUS_FILE: its name, duration
# and outcome. A failure or a time-out is reported there, never fatal to the run.
set -uo pipefail
cd "$(dirname "$0")/.."
deadline=$1 status_file=$2

advisory_stage() {  # advisory_stage NAME LIMIT COMMAND...
    local name=$1 limit=$2 left=$((deadline - $(date +%s))) start=$SECONDS status=0
    shift 2
    if [ "$left" -lt 300 ]; then
        echo; echo "=== stage $name: skipped, $left s left before the deadline ==="
        printf '%-12s    - s  skipped: no time left\n' "$name" >> "$status_file"
        return
    fi
    [ "$left" -lt "$limit" ] && limit=$left
    echo; echo "=== stage $name (advisory) ==="
    timeout --kill-after=30 "$limit" "$@" || status=$?
    local outcome=passed
    [ $status -eq 124 ] && outcome="STOPPED at its limit of $limit s"
    [ $status -ne 0 ] && [ $status -ne 124 ] && outcome="FAILED (status $status)"
    printf '%-12s %4d s  %s\n' "$name" $((SECONDS - start)) "$outcome" >> "$status_file"
}
advisory_stage py3.14 1500 bash .ci/new_python.sh 3.14
advisory_stage py3.15 1200 bash .ci/new_python.sh 3.15
advisory_stage arm64 1800 bash .ci/arm64.sh
