# emokd: see README.md.  Targets: all check unit bats fuzz man-lint install uninstall clean
# bench bench-build demo fetch-data deps
include config.mk

# Every tools/<name>.c becomes bin/emo-<name>; every lib/**/*.c{,c} goes into lib/libemo.a;
# every tests/unit/test_*.c becomes a unit-test binary.  Adding a file needs no Makefile edit.
TOOL_SRC  := $(sort $(wildcard tools/*.c))
TOOLS     := $(patsubst tools/%.c,bin/emo-%,$(TOOL_SRC))
LIB_SRC   := $(sort $(wildcard lib/*/*.c))
LIB_CXX   := $(sort $(wildcard lib/*/*.cc))
LIB_OBJ   := $(LIB_SRC:.c=.o) $(LIB_CXX:.cc=.o)
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNITS     := $(patsubst tests/unit/%.c,tests/unit/bin/%,$(UNIT_SRC))
# the fuzz targets' names here, before check and bats list their replay drivers (a rule's
# prerequisites are expanded when make reads it)
FUZZ_SRC    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES  := $(patsubst tests/fuzz/fuzz_%.c,%,$(FUZZ_SRC))
FUZZ_REPLAY := $(patsubst %,tests/fuzz/bin/replay-%,$(FUZZ_NAMES))
FUZZ_BIN    := $(patsubst %,tests/fuzz/bin/fuzz-%,$(FUZZ_NAMES))
MAN1      := $(sort $(wildcard man/man1/*.1))
MAN5      := $(sort $(wildcard man/man5/*.5))
MAN7      := $(sort $(wildcard man/man7/*.7))

all: bin/emo $(TOOLS)

# --version prints config.mk's VERSION and, built in a git checkout, `git describe --always
# --dirty` taken at build time (a tarball has no .git: VERSION alone).  lib/util/cli.o holds
# it and is rebuilt when it changes: .version keeps the last one.
GIT_DESCRIBE := $(if $(wildcard .git),$(shell git describe --always --dirty 2>/dev/null))
FULL_VERSION := $(VERSION)$(if $(GIT_DESCRIBE),+$(GIT_DESCRIBE))

lib/util/cli.o: CPPFLAGS += -DEMO_VERSION='"$(FULL_VERSION)"'
lib/util/cli.o: .version
.version: FORCE
	@[ "$$(cat $@ 2>/dev/null)" = '$(FULL_VERSION)' ] || echo '$(FULL_VERSION)' > $@
FORCE:

# lib/dist is the one place that includes mpi.h (dist.h)
lib/dist/dist.o tests/fuzz/obj/lib/dist/dist.o: CPPFLAGS += $(MPI_CFLAGS)

# rebuilt from scratch: ar rcs on the old archive would keep the object of a file since
# moved or removed, and the linker might take its stale copy of a symbol
lib/libemo.a: $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

bin/emo: emo.c lib/libemo.a | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -DEMO_LIBEXEC='"$(BINDIR)"' -o $@ emo.c lib/libemo.a $(LDFLAGS) $(LDLIBS)

bin/emo-%: tools/%.c lib/libemo.a | bin
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< lib/libemo.a $(LDFLAGS) $(LDLIBS)

tests/unit/bin/%: tests/unit/%.c lib/libemo.a | tests/unit/bin
	$(CC) $(CPPFLAGS) -Itests/unit $(CFLAGS) -o $@ $< lib/libemo.a $(LDFLAGS) $(LDLIBS)

# bench/<topic>/<name>.c, the C side of a benchmark, becomes bench/out/<name> (the topic's
# script asks for it); make bench-build builds them all and runs nothing.
BENCH_SRC := $(sort $(wildcard bench/*/*.c))
BENCH_BIN := $(addprefix bench/out/,$(basename $(notdir $(BENCH_SRC))))
ifneq ($(words $(BENCH_BIN)),$(words $(sort $(BENCH_BIN))))
$(error two bench/*/*.c files share a name: $(BENCH_SRC))
endif
define bench_rule
bench/out/$(basename $(notdir $(1))): $(1) lib/libemo.a | bench/out
	$$(CC) $$(CPPFLAGS) $$(CFLAGS) -o $$@ $$< lib/libemo.a $$(LDFLAGS) $$(LDLIBS)
endef
$(foreach s,$(BENCH_SRC),$(eval $(call bench_rule,$(s))))

bench-build: $(BENCH_BIN)

%.o: %.cc
	$(CXX) $(CPPFLAGS) $(CXXFLAGS) -c -o $@ $<

bin tests/unit/bin bench/out tests/fuzz/bin:
	mkdir -p $@

# make check: unit tests, then bats; prints "N passed, N failed" last.
check: all $(UNITS) $(FUZZ_REPLAY)
	@tests/run-all.sh

unit: all $(UNITS)
	@tests/run-all.sh unit

bats: all $(FUZZ_REPLAY)
	@tests/run-all.sh bats

# Fuzzing (tests/fuzz/README.md): every tests/fuzz/fuzz_<name>.c is a libFuzzer target.
# make fuzz builds them with clang (Debian clang, libfuzzer-14-dev) against a copy of the
# library built with the sanitizers, and runs each FUZZ_S seconds from its committed
# corpus (new inputs go to tests/fuzz/work/, crashes to tests/fuzz/crash-<name>-*).
# make check replays every corpus, reproducers included, through gcc-built drivers.
FUZZ_S      ?= 60
FUZZ_CC     ?= clang
FUZZ_CXX    ?= clang++
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=c11 -g -O1 -pthread -MMD -MP $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_OBJ    := $(patsubst %,tests/fuzz/obj/%,$(LIB_SRC:.c=.o) $(LIB_CXX:.cc=.o))

tests/fuzz/bin/replay-%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h lib/libemo.a | tests/fuzz/bin
	$(CC) $(CPPFLAGS) -Itests/fuzz $(CFLAGS) -o $@ tests/fuzz/replay.c tests/fuzz/fuzz_$*.c lib/libemo.a $(LDFLAGS) $(LDLIBS)

tests/fuzz/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<
# clang 14's UBSan instrumentation of attn_direct.c's AVX-512 intrinsics runs for more than ten
# minutes; no fuzz target reaches inference attention, so that file gets ASan alone
tests/fuzz/obj/lib/nn/attn_direct.o: FUZZ_CFLAGS := $(filter-out $(FUZZ_SAN),$(FUZZ_CFLAGS)) -fsanitize=address

tests/fuzz/obj/%.o: %.cc
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(CPPFLAGS) -std=c++17 -g -O1 -MMD -MP $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Ilib -c -o $@ $<

tests/fuzz/obj/libemo.a: $(FUZZ_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

tests/fuzz/bin/fuzz-%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h tests/fuzz/obj/libemo.a | tests/fuzz/bin
	$(FUZZ_CC) $(CPPFLAGS) -Itests/fuzz $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< tests/fuzz/obj/libemo.a \
	    $(PKG_LIBS) $(SPM_LIBS) -lstdc++ -lm

# FUZZ_SEED: libFuzzer's seed (0: a new one each run); a fixed one makes CI's short run
# retrace the inputs it tried before, so it fails only on what a change broke
FUZZ_SEED ?= 1

fuzz-build: $(FUZZ_BIN)

fuzz: $(FUZZ_BIN)
	@set -e; for n in $(FUZZ_NAMES); do \
	    mkdir -p tests/fuzz/work/$$n; \
	    echo "fuzz-$$n: $(FUZZ_S) s"; \
	    tests/fuzz/bin/fuzz-$$n -max_total_time=$(FUZZ_S) -seed=$(FUZZ_SEED) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	        -artifact_prefix=tests/fuzz/crash-$$n- tests/fuzz/work/$$n tests/fuzz/corpus/$$n 2>&1 \
	        | grep -E '^(stat::number_of_executed_units|stat::new_units_added|==[0-9]+==ERROR|SUMMARY)|Done [0-9]+ runs' \
	        || true; \
	    ls tests/fuzz/crash-$$n-* > /dev/null 2>&1 && { echo "fuzz-$$n: crashed, see tests/fuzz/crash-$$n-*"; exit 1; }; \
	done; echo "fuzz: no crash"

# mandoc's lint, then groff's warnings (-ww: lines it cannot break, bad macro calls...)
man-lint:
	@set -e; for m in $(MAN1) $(MAN5) $(MAN7); do mandoc -Tlint -Wwarning $$m; \
	    w=$$(groff -ww -mandoc -Tutf8 $$m 2>&1 >/dev/null); [ -z "$$w" ] || { echo "$$w"; exit 1; }; \
	done; echo man pages ok

# The paper's experiment at CPU size (pipelines/paper.sh; its knobs are environment
# variables: make demo CORPUS=path/text.csv).  Reruns redo only what changed.
demo: all
	pipelines/paper.sh work/demo

# The public dair-ai emotion corpus into data/emotion (sha256-checked).
fetch-data:
	pipelines/fetch-data.sh data/emotion

bench: all
	bench/run.sh

# Installs the Debian packages the build and the tests need (root, or sudo).
deps:
	$(if $(filter 0,$(shell id -u)),,sudo) .ci/install-deps

install: all
	$(INSTALL) -d -m 755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANPREFIX)/man1 $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7
	$(INSTALL_PROGRAM) bin/emo $(TOOLS) $(DESTDIR)$(BINDIR)
	$(if $(MAN1),$(INSTALL_MAN) $(MAN1) $(DESTDIR)$(MANPREFIX)/man1)
	$(if $(MAN5),$(INSTALL_MAN) $(MAN5) $(DESTDIR)$(MANPREFIX)/man5)
	$(if $(MAN7),$(INSTALL_MAN) $(MAN7) $(DESTDIR)$(MANPREFIX)/man7)

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/emo $(patsubst bin/%,$(DESTDIR)$(BINDIR)/%,$(TOOLS))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANPREFIX)/%,$(MAN1) $(MAN5) $(MAN7))

clean:
	rm -rf bin tests/unit/bin bench/out lib/libemo.a .version lib/*/*.o lib/*/*.d tests/unit/*.d *.d

-include $(LIB_OBJ:.o=.d) $(wildcard bin/*.d tests/unit/bin/*.d tests/fuzz/bin/*.d bench/out/*.d) $(wildcard $(FUZZ_OBJ:.o=.d))

.PHONY: all check unit bats fuzz fuzz-build man-lint demo fetch-data bench bench-build deps install uninstall clean FORCE
.SECONDARY:
