#!/usr/bin/env bats
# The first run on a fresh machine (issue 12): `make quickstart` in a fresh
# copy of the tree, where pkg-config knows none of the -dev packages until
# the deps step has installed them. A stand-in pkg-config on PATH fails
# every call made before the (stubbed) deps step ran, as a fresh Debian
# does; the build must still succeed, first time, with make -j2.
bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup() {
	export LC_ALL=C HOME="$BATS_TEST_TMPDIR"
	command -v git >/dev/null && git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1 ||
		skip "not a git checkout: no way to copy the tree as a clone would have it"
	SRC="$BATS_TEST_TMPDIR/clone"
	STATE="$BATS_TEST_TMPDIR/state"
	mkdir -p "$SRC" "$STATE" "$BATS_TEST_TMPDIR/bin"
	# the files a clone has (tracked, plus new ones not ignored): no build/
	(cd "$REPO" && git ls-files -co --exclude-standard -z |
		xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
		tar --null -T - -cf -) | tar -xf - -C "$SRC"
	[ ! -e "$SRC/build" ] && [ ! -e "$SRC/chipctl" ]

	real=$(command -v pkg-config)
	cat > "$BATS_TEST_TMPDIR/bin/pkg-config" <<-EOF
	#!/bin/sh
	# stand-in: nothing is installed until the deps step has run
	if [ -e "$STATE/deps-ran" ]; then
		echo "ok \$*" >> "$STATE/calls"
		exec "$real" "\$@"
	fi
	echo "fail \$*" >> "$STATE/calls"
	echo "Package libpq was not found in the pkg-config search path." >&2
	exit 1
	EOF
	# the deps step, stubbed: no apt; it "installs" the packages
	cat > "$SRC/scripts/install-deps.sh" <<-EOF
	#!/bin/sh
	echo "install-deps: installing: (stub)" >&2
	touch "$STATE/deps-ran"
	EOF
	# the quick start proper needs PostgreSQL and the fakes; here only the
	# binary it would run matters
	cat > "$SRC/scripts/quickstart.sh" <<-'EOF'
	#!/bin/sh
	./chipctl --version
	EOF
	chmod +x "$BATS_TEST_TMPDIR/bin/pkg-config"
}

@test "make quickstart builds the first time, pkg-config failing until deps has run" {
	cd "$SRC"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH" run --separate-stderr \
		timeout 600 make -j2 quickstart CFLAGS=-O0
	if [ "$status" -ne 0 ]; then
		echo "make quickstart exited $status"; echo "$stderr" | tail -20; return 1
	fi
	[ -e "$STATE/deps-ran" ]
	[[ "$output" == *"chipctl 0."* ]]
	[ -x "$SRC/chipctl" ]
	# pkg-config was asked for real (after deps), and the compile lines
	# carry its include path
	grep -q '^ok --cflags' "$STATE/calls"
	[[ "$output" == *"-I/usr/include/postgresql"* ]]
}

@test "without the deps step, make says to run it instead of compiling blind" {
	cd "$SRC"
	PATH="$BATS_TEST_TMPDIR/bin:$PATH" run --separate-stderr timeout 60 make all
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"pkg-config cannot find libpq libcurl json-c libconfig: run 'make deps'"* ]]
	[[ "$output" != *"cc "* ]]
	[ ! -e "$SRC/build/chipctl" ]
}
