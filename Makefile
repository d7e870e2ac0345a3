# bulwark: one non-recursive GNU Makefile (see README, "Developing": why make).
#
#   make            build the binaries into build/bin
#   make check      build and run the unit tests (cmocka)
#   make asan       build and run the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
#   make valgrind   run the unit tests under valgrind (errors and leaks fail)
#   make fuzz       build the libFuzzer targets into build/fuzz (clang)
#   make lint       banned functions
#   make clean
#
# Sources are found by wildcard: a file in src/common/ goes into the common library, a file in
# src/<binary-folder>/ into that binary, tests/unit/test_X.c becomes one unit test binary.

CC       ?= gcc
PKGS     := libcurl jansson libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wno-missing-field-initializers -Wswitch-enum
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Isrc/common -MMD -MP
LDLIBS   := $(PKG_LIBS) -lm

BUILD    ?= build
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
ALL_CFLAGS += -DBULWARK_VERSION='"$(VERSION)"' -DBULWARK_GIT_REV='"$(GIT_REV)"'

COMMON_SRC := $(sort $(wildcard src/common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
COMMON_LIB := $(BUILD)/libbulwark.a

# binary name -> source folder
BINARIES := bulwarkctl
bulwarkctl_DIR := src/ctl
ifneq ($(wildcard src/keeper/*.c),)
BINARIES += bulwark-keeper
endif
ifneq ($(wildcard src/sentinel/*.c),)
BINARIES += bulwark-sentinel
endif
ifneq ($(wildcard src/proxy/*.c),)
BINARIES += bulwark-proxy
endif
bulwark-keeper_DIR := src/keeper
bulwark-sentinel_DIR := src/sentinel
bulwark-proxy_DIR := src/proxy

BIN_PATHS := $(BINARIES:%=$(BUILD)/bin/%)

UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TESTLIB_SRC := $(sort $(wildcard tests/unit/lib/*.c))
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_SRC   := $(sort $(wildcard tests/tools/*.c))
TOOL_BINS  := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all check asan valgrind fuzz lint clean install tools
.SECONDARY:
all: $(BIN_PATHS) $(TOOL_BINS)
tools: $(TOOL_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(COMMON_LIB): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

define binary_rule
$(BUILD)/bin/$(1): $$(patsubst %.c,$(BUILD)/obj/%.o,$$(sort $$(wildcard $$($(1)_DIR)/*.c))) $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach b,$(BINARIES),$(eval $(call binary_rule,$(b))))

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJ) $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CMOCKA_LIBS)

$(BUILD)/tools/%: $(BUILD)/obj/tests/tools/%.o $(COMMON_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Unit tests run from the repository root so that they find tests/unit/data/.
check: $(UNIT_BINS)
	@failed=0; for t in $(UNIT_BINS); do \
	    echo "== $$t"; $$t || failed=$$((failed + 1)); \
	done; \
	echo "unit test binaries: $(words $(UNIT_BINS)) run, $$failed failed"; test $$failed -eq 0

asan:
	$(MAKE) BUILD=build/asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	    LDFLAGS="-fsanitize=address,undefined" check

valgrind: $(UNIT_BINS)
	@failed=0; for t in $(UNIT_BINS); do \
	    echo "== valgrind $$t"; \
	    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
	        $$t > $(BUILD)/valgrind-$$(basename $$t).log 2>&1 || { failed=$$((failed + 1)); cat $(BUILD)/valgrind-$$(basename $$t).log; }; \
	done; \
	echo "valgrind: $(words $(UNIT_BINS)) unit test binaries, $$failed with errors"; test $$failed -eq 0

# Fuzz targets: tests/fuzz/fuzz_X.c, each a LLVMFuzzerTestOneInput, built with clang and libFuzzer against the
# common sources compiled with the same sanitizers.
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -Isrc/common \
               -DBULWARK_VERSION='"$(VERSION)"' -DBULWARK_GIT_REV='"$(GIT_REV)"'
fuzz: $(FUZZ_BINS)
build/fuzz/%: tests/fuzz/%.c $(COMMON_SRC) $(wildcard src/common/*.h)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -o $@ $< $(COMMON_SRC) $(LDLIBS)

lint:
	@! grep -rnE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok)\s*\(' src tests/unit tests/tools tests/fuzz \
	    || { echo "lint: banned functions above (see STYLE.md)"; exit 1; }
	@echo "lint: no banned functions"

PREFIX ?= /usr/local
install: $(BIN_PATHS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN_PATHS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
