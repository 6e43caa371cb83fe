#!/bin/sh
# Run each libFuzzer target for $FUZZ_SECONDS (default 20) over its seed
# corpus in tests/fuzz/corpus/NAME (read only: new inputs go to a temporary
# directory). A crash leaves its input in build/fuzz/crashes/ — fix the bug
# and add the input to the corpus as a regression test.
# Ends with "N passed, N failed" (one test per target).
set -u
secs=${FUZZ_SECONDS:-20}
LSAN_OPTIONS="suppressions=$(pwd)/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export LSAN_OPTIONS
passed=0
failed=0
mkdir -p build/fuzz/crashes
for bin in "$@"; do
	name=$(basename "$bin" | sed 's/^fuzz_//')
	work=$(mktemp -d /tmp/chipctl-fuzz.XXXXXX)
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-artifact_prefix=build/fuzz/crashes/"$name"- \
		"$work" "tests/fuzz/corpus/$name" > "$work.log" 2>&1; then
		passed=$((passed + 1))
		echo "ok $((passed + failed)) - fuzz $name: $(grep -o '#[0-9]*.*DONE.*' "$work.log" | tail -1)"
	else
		failed=$((failed + 1))
		echo "not ok $((passed + failed)) - fuzz $name"
		tail -30 "$work.log" | sed 's/^/#   /'
	fi
	rm -rf "$work" "$work.log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
