# Shell functions for scripts outside bats (quick start, valgrind pass) that
# run the fake providers of tests/fakes/. Source it with FAKE_DIR set.
# (The bats suites use tests/lib/fakes.bash, which also reads the logs.)

# start_fake NAME ARGS...: a fake provider on a free port; prints its URL.
start_fake() {
	_name=$1; shift
	python3 "tests/fakes/fake_$_name.py" --port 0 --portfile "$FAKE_DIR/$_name.port" \
		--log "$FAKE_DIR/$_name.log" "$@" >"$FAKE_DIR/$_name.out" 2>&1 3>&- &
	echo $! > "$FAKE_DIR/$_name.pid"
	_i=0
	while [ ! -s "$FAKE_DIR/$_name.port" ]; do
		_i=$((_i + 1))
		[ $_i -lt 200 ] || { echo "fake $_name did not start" >&2; return 1; }
		sleep 0.05
	done
	echo "http://127.0.0.1:$(cat "$FAKE_DIR/$_name.port")"
}

# stop_fakes: every fake started from this FAKE_DIR.
stop_fakes() {
	for _f in "$FAKE_DIR"/*.pid; do
		[ -e "$_f" ] && kill "$(cat "$_f")" 2>/dev/null
	done
	return 0
}
