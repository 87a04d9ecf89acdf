# Build, install and test the mod_rewrite reimplementation.
#   make               build .libs/mod_rewrite.so with apxs
#   make SANITIZE=1    the same with ASan + UBSan (see README)
#   make install       install into Apache's module directory (replaces stock;
#                      on Debian and Ubuntu use the package instead:)
#   make deb           the Debian package in deb/, checked by lintian
#   make deb-cycle     its install/upgrade/remove test, in a chroot (as root)
#   make test          unit tests, Apache::Test suite, differential suite
#   make demo          start a demo server on 127.0.0.1:8080 (make demo-stop)

# ./configure writes config.mk for non-default paths; defaults otherwise.
-include config.mk
APXS    ?= apxs
PCRE2_CONFIG ?= pcre2-config
PKG_CONFIG ?= pkg-config

PCRE2_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libpcre2-8 2>/dev/null)
PCRE2_LIBS   ?= $(shell $(PKG_CONFIG) --libs libpcre2-8 2>/dev/null || echo -lpcre2-8)
# the APR and APR-util that Apache was built with (apxs knows their
# *-config scripts), not whichever apr-1-config comes first on PATH;
# deferred: only the unit tests and the fuzz targets link APR themselves
APR_CONFIG ?= $(shell $(APXS) -q APR_CONFIG 2>/dev/null)
APU_CONFIG ?= $(shell $(APXS) -q APU_CONFIG 2>/dev/null)
APR_INCLUDES = $(if $(APR_CONFIG),$(shell $(APR_CONFIG) --includes))
APR_LIBS     = $(or $(if $(APR_CONFIG),$(shell $(APR_CONFIG) --link-ld)),-lapr-1)
APU_LIBS     = $(or $(if $(APU_CONFIG),$(shell $(APU_CONFIG) --link-ld)),-laprutil-1)

# the map registry and its back ends (include/rewrite_map_backend.h)
MAP_SRCS = rewrite_map.c rewrite_map_txt.c rewrite_map_int.c \
          rewrite_map_dbm.c rewrite_map_dbd.c rewrite_map_prg.c
SRCS    = mod_rewrite.c rewrite_parse.c rewrite_exec.c $(MAP_SRCS) \
          rewrite_txtindex.c rewrite_index.c rewrite_stats.c rewrite_status.c
HDRS    = include/rewrite.h include/mod_rewrite.h include/rewrite_txtindex.h \
          include/rewrite_map_backend.h include/rewrite_stats.h
# hook and callback signatures are httpd's: their unused parameters stay
# unnamed by -Wno-unused-parameter rather than (void) casts
BASE_WARN = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers
# the module's sources only: the unit tests' fixtures put string literals
# into request_rec fields, which -Wwrite-strings/-Wcast-qual would refuse
EXTRA_WARN ?= -Wshadow -Wconversion -Wcast-qual -Wwrite-strings
WARN    = $(BASE_WARN) $(EXTRA_WARN)
CSTD    = -std=c11 -D_GNU_SOURCE
# only rewrite_module is exported
VISIB   = -fvisibility=hidden
ifeq ($(SANITIZE),1)
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -g -O1
SANLIBS  = -fsanitize=address,undefined
# httpd is not instrumented: every process the tests start gets the
# sanitizer runtimes preloaded (harmless for perl, python and the shell).
SAN_ENV  = LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
           ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 SANITIZE=1
endif
# CPPFLAGS, CFLAGS and LDFLAGS from the environment or the command line are
# passed on (the Debian package build gives dpkg-buildflags' hardening ones).
APXS_CFLAGS = $(foreach f,$(WARN) $(CSTD) $(VISIB) $(PCRE2_CFLAGS) $(SANFLAGS) \
                $(CPPFLAGS) $(CFLAGS),-Wc,$(f))
APXS_LDFLAGS = $(foreach f,$(SANLIBS) $(LDFLAGS),-Wl,$(f))

MODULE  = .libs/mod_rewrite.so

all: $(MODULE)

$(MODULE): $(SRCS) $(HDRS) $(wildcard config.mk)
	$(APXS) -c -o mod_rewrite.la -I include $(APXS_CFLAGS) $(APXS_LDFLAGS) \
	    $(SRCS) $(PCRE2_LIBS)

# LIBEXECDIR=DIR installs elsewhere than Apache's module directory.  On
# Debian the file there belongs to a package (apache2-bin, or ours when
# the .deb is installed): the package manager would put its own back
# silently, so say so and point at `make deb` (README).
install: $(MODULE) install-tools
	@dest=$(or $(LIBEXECDIR),$$($(APXS) -q LIBEXECDIR))/mod_rewrite.so; \
	owners=$$(dpkg-query -S "$$dest" 2>/dev/null); \
	diverter=$$(printf '%s\n' "$$owners" | sed -n 's/^diversion by \(.*\) from: .*/\1/p'); \
	owner=$$(printf '%s\n' "$$owners" | sed -n '/^diversion by/d; s/: .*//p' | tail -n 1); \
	if [ -n "$$diverter" ]; then \
	    echo "make install: WARNING: $$dest is the Debian package $$diverter's"; \
	    echo "  (it diverted apache2-bin's).  Overwriting it goes behind dpkg's back;"; \
	    echo "  build and install the package again instead:"; \
	    echo "  make deb && apt-get install ./deb/libapache2-mod-rewrite-cleanroom_*.deb"; \
	elif [ -n "$$owner" ]; then \
	    echo "make install: WARNING: $$dest belongs to the Debian package $$owner."; \
	    echo "  The next upgrade or reinstall of $$owner puts its own file back, silently,"; \
	    echo "  and undoing this means reinstalling $$owner.  On Debian and Ubuntu build"; \
	    echo "  and install the package instead (README):"; \
	    echo "  make deb && apt-get install ./deb/libapache2-mod-rewrite-cleanroom_*.deb"; \
	fi >&2
	$(APXS) -i $(if $(LIBEXECDIR),-S LIBEXECDIR=$(LIBEXECDIR)) -n rewrite mod_rewrite.la

# C unit tests of the pure functions (no server needed).
UNIT_BIN = t/unit/run-unit
# `unit` always rebuilds the binary: `make unit SANITIZE=1` right after
# `make unit` (or the reverse) must not run the other build.
unit:
	@$(MAKE) --no-print-directory -B $(UNIT_BIN)
	./$(UNIT_BIN)

# (the test_*.c files include the other sources, for their static functions)
$(UNIT_BIN): t/unit/*.c t/unit/*.h rewrite_parse.c rewrite_exec.c \
        $(MAP_SRCS) rewrite_txtindex.c rewrite_index.c rewrite_stats.c $(HDRS)
	$(CC) $(BASE_WARN) $(CSTD) -g -I include $(shell $(APXS) -q EXTRA_CPPFLAGS) \
	    -I$(shell $(APXS) -q INCLUDEDIR) \
	    $(shell $(APXS) -q EXTRA_CFLAGS) $(APR_INCLUDES) \
	    $(PCRE2_CFLAGS) $(SANFLAGS) -o $@ t/unit/*.c $(MAP_SRCS) \
	    $(APR_LIBS) $(APU_LIBS) $(PCRE2_LIBS) $(SANLIBS)

test: $(MODULE)
	$(SAN_ENV) bash t/run-all.sh

demo: $(MODULE)
	bash demo/start.sh

demo-stop:
	bash demo/stop.sh

clean:
	rm -rf .libs *.la *.lo *.o *.slo $(UNIT_BIN)

.PHONY: all install unit test demo demo-stop clean

# Differential fuzzing against the stock module (t/diff/fuzz/README.md):
#   make fuzz-diff                      200 generated configurations, seed from the clock
#   make fuzz-diff SEED=7 COUNT=1000    or SECONDS=3600 (time-bounded)
#   make fuzz-diff FUZZ_DIFF_ARGS=--avoid-known
# Reduced repros of each new class go to FUZZ_DIFF_OUT (t/diff/fuzz/out).
FUZZ_DIFF_OUT ?= t/diff/fuzz/out
fuzz-diff: $(MODULE)
	python3 t/diff/fuzz/fuzz-diff $(if $(SEED),--seed $(SEED)) \
	    $(if $(COUNT),--count $(COUNT)) $(if $(SECONDS),--seconds $(SECONDS)) \
	    --out $(FUZZ_DIFF_OUT) $(FUZZ_DIFF_ARGS)

# CI: fixed seeds (t/diff/fuzz/ci-seeds.txt), bounded time, any difference
# fails.  A failing run is made once more: the generated configurations and
# requests are the same, so a real difference comes back and fails it; what
# does not come back is the harness's known log-read race (t/diff/fuzz/open/
# README.md: trace lines of one batch missing, never reproduced), which the
# first run's output still shows above.
FUZZ_DIFF_CI = python3 t/diff/fuzz/fuzz-diff --seeds-file t/diff/fuzz/ci-seeds.txt \
	    --count 30 --seconds 300 --no-reduce
fuzz-diff-ci: $(MODULE)
	$(FUZZ_DIFF_CI) || { echo "fuzz-diff-ci: differences above; once more:"; \
	    $(FUZZ_DIFF_CI); }

.PHONY: fuzz-diff fuzz-diff-ci

# ---------------------------------------------------------------------
# Fuzzing: libFuzzer targets with ASan + UBSan (fuzz/README.md).  Needs
# clang and its sanitizer runtimes (Debian 12: clang-14 libclang-rt-14-dev).
#   make fuzz                     build, run each target FUZZ_SECONDS (30);
#                                 fails if any target crashes
#   make fuzz FUZZ_SECONDS=60     the CI setting (about 5 minutes)
#   make fuzz FUZZ_TARGETS=fuzz_expand   one target only
#   make fuzz-build / fuzz-clean  binaries in fuzz/out/ only / remove fuzz/out/
FUZZ_SECONDS ?= 30
FUZZ_TARGETS ?= fuzz_directive fuzz_expand fuzz_escape fuzz_txtmap
FUZZ_CC      ?= $(shell command -v clang-14 || command -v clang || echo clang)
FUZZ_OUT      = fuzz/out
FUZZ_CFLAGS   = -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
                -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -Wall -Wextra -Wno-unused-parameter \
                -Wno-missing-field-initializers \
                -I include -I t/unit $(shell $(APXS) -q EXTRA_CPPFLAGS) \
                -I$(shell $(APXS) -q INCLUDEDIR) \
                $(APR_INCLUDES) $(PCRE2_CFLAGS)
FUZZ_LIBS     = -rdynamic $(APR_LIBS) $(APU_LIBS) $(PCRE2_LIBS) -ldl
# every target: its own file (which may include one module source, for its
# static functions), the other module sources, the unit tests' stubs
FUZZ_COMMON   = t/unit/stubs.c fuzz/stubs_extra.c fuzz/pool_guard.c \
                rewrite_txtindex.c rewrite_index.c rewrite_stats.c
FUZZ_SRC_fuzz_directive = rewrite_exec.c $(MAP_SRCS)
FUZZ_SRC_fuzz_expand    = rewrite_parse.c $(MAP_SRCS)
FUZZ_SRC_fuzz_escape    = rewrite_parse.c $(MAP_SRCS)
FUZZ_SRC_fuzz_txtmap    = rewrite_parse.c rewrite_exec.c $(MAP_SRCS)

fuzz: fuzz-build
	bash fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(addprefix $(FUZZ_OUT)/,$(FUZZ_TARGETS))

$(FUZZ_OUT)/fuzz_%: fuzz/fuzz_%.c fuzz/*.h $(FUZZ_COMMON) rewrite_parse.c \
        rewrite_exec.c $(MAP_SRCS) $(HDRS) t/unit/unit.h
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: no clang;" \
	    "apt-get install clang-14 libclang-rt-14-dev" >&2; exit 1; }
	@mkdir -p $(FUZZ_OUT)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< $(FUZZ_SRC_fuzz_$*) $(FUZZ_COMMON) \
	    $(FUZZ_LIBS)

fuzz-clean:
	rm -rf $(FUZZ_OUT)

.PHONY: fuzz fuzz-build fuzz-clean

# rewrite-test (tools/rewrite-test): the rule tester and linter, into
# /usr/local/bin, with its man-style page as `rewrite-test --help`; its code
# (rewrite_test.py) and the server harness it shares with the other Python
# tools (rwharness.py) into /usr/local/lib/rewrite-test, where it looks.  Before
# `make install` replaces Debian's module, a copy of the stock one is kept
# for `rewrite-test --compare-stock` (only when it is still Debian's).
PREFIX ?= /usr/local
install-tools:
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/rewrite-test
	install -m 0755 tools/rewrite-test $(DESTDIR)$(PREFIX)/bin/rewrite-test
	install -m 0644 tools/rewrite_test.py tools/rwharness.py tools/rewrite_usage.py $(DESTDIR)$(PREFIX)/lib/rewrite-test/
	@mod=$$($(APXS) -q LIBEXECDIR)/mod_rewrite.so; \
	want=$$(dpkg-query --control-show apache2-bin md5sums 2>/dev/null | awk '$$2 ~ /modules\/mod_rewrite\.so$$/ {print $$1}'); \
	if [ -n "$$want" ] && [ -f "$$mod" ] && [ "$$(md5sum < "$$mod" | cut -d' ' -f1)" = "$$want" ]; then \
	    install -m 0644 "$$mod" $(DESTDIR)$(PREFIX)/lib/rewrite-test/mod_rewrite-stock.so; \
	    echo "kept a copy of the stock module for --compare-stock"; \
	fi

.PHONY: install-tools

# ---------------------------------------------------------------------
# Faults and load (issue 6; scripts in t/load/, fault tests in t/faults.t)
#   make check-leaks     the Apache::Test suite against a sanitizer build
#                        (ASan + UBSan, built from the work tree in a
#                        temporary directory, runtimes preloaded into the
#                        server); fails on any sanitizer report or crash
#                        in the server logs
#   make load            LOAD_REQUESTS (200000) requests with wrk over 64
#                        connections to a config using every feature, with
#                        the event MPM and with prefork, against the
#                        sanitizer build and then the normal build (.libs/);
#                        prints requests, errors, wrong answers, crashes,
#                        sanitizer reports and the RSS of every process
#                        before and after; fails if any of them is off
#   make load LOAD_QUICK=1          the same with 20000 requests
#   make load LOAD_BUILD=sanitize   one build only (also: normal, stock)
LOAD_REQUESTS ?= 200000
LOAD_BUILD    ?= both
LOAD_QUICK    ?= 0

check-leaks:
	bash t/load/check-leaks.sh

load:
	LOAD_REQUESTS=$(LOAD_REQUESTS) LOAD_BUILD=$(LOAD_BUILD) LOAD_QUICK=$(LOAD_QUICK) \
	    bash t/load/load.sh

.PHONY: check-leaks load

# Static analysis: cppcheck and clang's analyser over every source file;
# any finding fails.  Suppressed, with the reason:
#  - cppcheck varFuncNullUB: apr_pstrcat & co end their arguments with
#    NULL, APR's own idiom; glibc defines NULL as ((void *)0)
#  - clang insecureAPI.DeprecatedOrUnsafeBufferHandling: it flags every
#    memset/memcpy and asks for Annex K functions glibc does not have
LINT_INC = -I include $(shell $(APXS) -q INCLUDEDIR | sed 's/^/-I/') \
           $(shell $(APXS) -q APR_INCLUDEDIR 2>/dev/null | sed 's/^/-I/') \
           -I/usr/include/apr-1.0
lint:
	cppcheck --quiet --enable=warning,portability,performance --std=c11 \
	    -D_GNU_SOURCE -DAF_UNIX=1 $(LINT_INC) --inline-suppr \
	    --suppress=missingIncludeSystem --suppress=varFuncNullUB \
	    --error-exitcode=1 $(SRCS)
	@fail=0; for f in $(SRCS); do \
	    out=$$(clang-14 --analyze -std=c11 -D_GNU_SOURCE $(LINT_INC) \
	        -Xanalyzer -analyzer-output=text \
	        -Xanalyzer -analyzer-disable-checker=security.insecureAPI.DeprecatedOrUnsafeBufferHandling \
	        -o /dev/null $$f 2>&1); \
	    if [ -n "$$out" ]; then echo "$$out"; fail=1; fi; \
	done; \
	if [ $$fail = 0 ]; then echo "lint: cppcheck and clang analyser clean"; \
	else echo "lint: findings above"; exit 1; fi
.PHONY: lint

# ---------------------------------------------------------------------
# Benchmarks (bench/README.md): the stock mod_rewrite.so against
# .libs/mod_rewrite.so (or RW_MODULE), same configs and requests, one
# table of ratios ours/stock, also written to bench/RESULTS.md.  Does not
# build the module: run `make` first.
#   make bench           every workload (10-15 minutes)
#   make bench QUICK=1   workloads a, b and e10000 (about 3 minutes)
bench:
	bash bench/run-all $(if $(filter 1,$(QUICK)),--quick)

.PHONY: bench

# ---------------------------------------------------------------------
# Debian package (debian/, README "Installing on Debian"): the module in
# place of apache2-bin's mod_rewrite.so (dpkg-divert), and rewrite-test.
#   make deb         build it from a copy of the tree in deb/build/ (the
#                    .deb, .dsc and .changes land in deb/), then lintian,
#                    which must report no error and no warning
#                    (apt-get build-dep ./ && apt-get install lintian)
#   make deb-cycle   install, reinstall apache2-bin, upgrade apache2,
#                    remove and purge, checking which module answers each
#                    time, in a Debian 12 chroot made by debootstrap in its
#                    own network namespace (never on this machine)
DEB_OUT = deb
deb:
	@for t in dpkg-buildpackage dh lintian; do command -v $$t >/dev/null || { \
	    echo "deb: $$t missing: apt-get build-dep ./ && apt-get install lintian" >&2; exit 1; }; done
	rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/build/src
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard; \
	else find . -path ./.git -prune -o -path ./$(DEB_OUT) -prune -o -type f -print0; fi | \
	    tar --null --ignore-failed-read -T - -cf - | tar -C $(DEB_OUT)/build/src -xf -
	cd $(DEB_OUT)/build/src && dpkg-buildpackage -us -uc
	mv $(DEB_OUT)/build/*.* $(DEB_OUT)/
	rm -rf $(DEB_OUT)/build
	lintian --fail-on error,warning --display-info $(DEB_OUT)/*.changes
	@ls $(DEB_OUT)/*.deb

deb-cycle:
	bash debian/tests/cycle-in-chroot $(wildcard $(DEB_OUT)/libapache2-mod-rewrite-cleanroom_*.deb)

.PHONY: deb deb-cycle
