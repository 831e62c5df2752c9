# Shell helpers shared by the test scripts (tests/interop/run.sh,
# tests/bench/bench.sh).  Sourced, not run.

# stop_pids GRACE_MS PID...: SIGTERM to each, then up to GRACE_MS for each
# to exit before SIGKILL; each is reaped.
stop_pids() {
	local grace=$1 pid i
	shift
	for pid in "$@"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in "$@"; do
		for ((i = 0; i < grace; i += 50)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	return 0
}
