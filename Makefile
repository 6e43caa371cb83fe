# chipctl — see README.md. `make`, `make test`, `make bench`, `make install`.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANPREFIX  ?= $(PREFIX)/share/man
DATADIR    ?= $(PREFIX)/share/chipctl
SYSCONFDIR ?= /etc
DESTDIR    ?=

VERSION := 0.1.0
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-format-truncation
PKGS     = libpq libcurl json-c libconfig
# Asked of pkg-config only when a compile or link line first needs them
# (then kept), never when make starts: on a fresh machine the -dev packages
# are not installed yet at that point. A target that runs `deps` builds in a
# sub-make started after it (see quickstart, test, bench, ...), so no
# compile line of the same make can race the install. If pkg-config still
# fails, make stops and says why instead of compiling without include paths.
pkgconf = $(filter-out __ok__,$(or $(shell pkg-config $1 $(PKGS) && echo __ok__),\
	$(error pkg-config cannot find $(PKGS): run 'make deps' (scripts/install-deps.sh))))
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(call pkgconf,--cflags))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(call pkgconf,--libs) -lm)$(PKG_LIBS)

# BUILD is the output tree; `make asan` builds the same sources into
# build/asan with AddressSanitizer and UndefinedBehaviorSanitizer.
BUILD   ?= build
ALL_CFLAGS = $(WARN) $(CFLAGS) -D_GNU_SOURCE -DCHIPCTL_VERSION='"$(VERSION)"' \
	-Icommon -Icmd $(PKG_CFLAGS)
SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

COMMON_SRC := $(sort $(wildcard common/*.c))
CMD_SRC    := $(sort $(wildcard cmd/*.c))
SQL_FILES  := $(sort $(wildcard sql/[0-9][0-9][0-9]_*.sql))
SQL_REPEAT := $(sort $(wildcard sql/functions/[0-9][0-9]_*.sql))
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))

COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o) $(BUILD)/migrations_data.o
CMD_OBJ    := $(CMD_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

.PHONY: all asan unit test test-pgbouncer test-valgrind test-faults fuzz lint bench install uninstall clean quickstart deps

all: chipctl

chipctl: $(BUILD)/chipctl
	cp $< $@

$(BUILD)/chipctl: $(CMD_OBJ) $(BUILD)/libchipctl.a
	$(CC) $(ALL_CFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libchipctl.a $(PKG_LIBS) $(LDFLAGS)

$(BUILD)/libchipctl.a: $(COMMON_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: %.c $(wildcard common/*.h cmd/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The list of migration files is a dependency too: a file removed or
# renamed changes no remaining file's time, but must leave the binary.
$(BUILD)/sql-files: FORCE
	@mkdir -p $(BUILD)
	@echo '$(SQL_FILES) $(SQL_REPEAT)' | cmp -s - $@ || echo '$(SQL_FILES) $(SQL_REPEAT)' > $@

$(BUILD)/migrations_data.c: $(SQL_FILES) $(SQL_REPEAT) sql/reworked.txt $(BUILD)/sql-files scripts/embed-sql.sh
	@mkdir -p $(BUILD)
	sh scripts/embed-sql.sh sql > $@.tmp && mv $@.tmp $@

$(BUILD)/migrations_data.o: $(BUILD)/migrations_data.c common/migrations.h
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c tests/unit/tap.h $(BUILD)/libchipctl.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libchipctl.a $(PKG_LIBS)

unit: $(UNIT_BIN)

asan:
	$(MAKE) BUILD=build/asan CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
		build/asan/chipctl build/asan/unit-all

$(BUILD)/unit-all: $(UNIT_BIN)
	@touch $@

deps:
	sh scripts/install-deps.sh

# The README's test command: installs what it needs, builds both variants,
# runs every suite, ends with one line "N passed, N failed".
test: deps
	$(MAKE) all build/unit-all
	$(MAKE) asan
	sh scripts/run-tests.sh

# The bats suites with chipctl reaching the database through pgbouncer in
# transaction pooling mode: nothing may rely on session state.
test-pgbouncer: deps
	$(MAKE) all build/unit-all
	CHIPCTL_TEST_PGBOUNCER=1 CHIPCTL_TEST_NO_ASAN=1 CHIPCTL_TEST_NO_VALGRIND=1 sh scripts/run-tests.sh

# libFuzzer targets for every parser of outside input (tests/fuzz/), built
# with clang and ASan+UBSan; each runs FUZZ_SECONDS over its seed corpus.
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_SECONDS ?= 20

build/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) build/migrations_data.c $(wildcard common/*.h)
	@mkdir -p $(dir $@)
	clang -std=c11 -g -O1 -D_GNU_SOURCE -Icommon $(PKG_CFLAGS) \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $< $(COMMON_SRC) build/migrations_data.c $(PKG_LIBS)

fuzz: deps
	$(MAKE) $(FUZZ_BIN)
	FUZZ_SECONDS=$(FUZZ_SECONDS) sh scripts/run-fuzz.sh $(FUZZ_BIN)

# Static analysis: every SQL function, view and trigger defined once
# (scripts/check-sql-once.py), cppcheck and clang-tidy (.clang-tidy says which checks
# and why the others are left out); any finding fails.
lint: deps
	python3 scripts/check-sql-once.py sql
	$(MAKE) build/migrations_data.c
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr \
		--suppress=unknownMacro --suppress=uninitvar:common/log.c --std=c11 \
		-Icommon -Icmd common cmd
	clang-tidy --quiet $(COMMON_SRC) $(CMD_SRC) -- -std=c11 -D_GNU_SOURCE \
		-Icommon -Icmd -Ibuild $(PKG_CFLAGS)

# Faults injected in turn under a stream of messages and several workers;
# the invariants of SPEC 9 checked after each (tests/faults/run.sh).
test-faults: deps
	$(MAKE) all
	sh tests/faults/run.sh

# Every command once under valgrind memcheck: no error, no leak.
test-valgrind: deps
	$(MAKE) all
	sh scripts/valgrind-jobs.sh

bench: deps
	$(MAKE) all
	sh bench/run.sh
	sh bench/pacing.sh
	sh bench/soak.sh

# The README's first command: deps, then the build in a sub-make (it must
# not start before the -dev packages are in), then the quick start itself.
quickstart: deps
	$(MAKE) all
	sh scripts/quickstart.sh

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1 \
		$(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(DATADIR)/sql/functions \
		$(DESTDIR)$(DATADIR)/examples
	install -m 755 $(BUILD)/chipctl $(DESTDIR)$(BINDIR)/chipctl
	install -m 644 man/*.1 $(DESTDIR)$(MANPREFIX)/man1/
	install -m 644 man/*.5 $(DESTDIR)$(MANPREFIX)/man5/
	install -m 644 $(SQL_FILES) sql/reworked.txt $(DESTDIR)$(DATADIR)/sql/
	install -m 644 $(SQL_REPEAT) $(DESTDIR)$(DATADIR)/sql/functions/
	install -m 644 etc/chipctl.conf.example $(DESTDIR)$(DATADIR)/examples/chipctl.conf
	sed 's|@BINDIR@|$(BINDIR)|g' crontab/chipctl > $(DESTDIR)$(DATADIR)/examples/chipctl.cron
	install -m 644 crontab/railway.json $(DESTDIR)$(DATADIR)/examples/railway.json
	install -m 644 etc/grafana/chipctl.json $(DESTDIR)$(DATADIR)/examples/grafana-chipctl.json
	install -d $(DESTDIR)$(DATADIR)/examples/systemd $(DESTDIR)$(DATADIR)/examples/logrotate
	$(BUILD)/chipctl --list-jobs | sh scripts/gen-systemd.sh $(BINDIR) \
		$(DESTDIR)$(DATADIR)/examples/systemd
	sed 's|@BINDIR@|$(BINDIR)|g' etc/systemd/chipctl-send-worker.service \
		> $(DESTDIR)$(DATADIR)/examples/systemd/chipctl-send-worker.service
	install -m 644 etc/logrotate.d/chipctl $(DESTDIR)$(DATADIR)/examples/logrotate/chipctl

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/chipctl
	rm -f $(patsubst man/%,$(DESTDIR)$(MANPREFIX)/man1/%,$(wildcard man/*.1))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANPREFIX)/man5/%,$(wildcard man/*.5))
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf build chipctl

# a rule that always runs (see $(BUILD)/sql-files)
FORCE:
