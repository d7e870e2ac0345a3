# bulwark: one non-recursive GNU Makefile (see README, "Developing": why make).
#
#   make            build the binaries into build/bin
#   make check      build and run the unit tests (cmocka)
#   make asan       build and run the unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
#   make valgrind   run the unit tests under valgrind (errors and leaks fail)
#   make fuzz       build the libFuzzer targets into build/fuzz (clang)
#   make lint       banned functions, references to documents outside the repository
#   make clean
#
# Sources are found by wildcard: a file in src/common/ goes into the common library, a file in
# src/<binary-folder>/ into that binary, tests/unit/test_X.c becomes one unit test binary.

.DEFAULT_GOAL := all

CC       ?= gcc
PKGS     := libcurl jansson libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS))
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
            -Wno-missing-field-initializers -Wswitch-enum
CFLAGS   ?= -O2 -g
ALL_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(PKG_CFLAGS) -Isrc/common -Isrc -MMD -MP
LDLIBS   := -Wl,--as-needed $(PKG_LIBS) -lm

BUILD    ?= build
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
GIT_REV  := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
ALL_CFLAGS += -DBULWARK_VERSION='"$(VERSION)"' -DBULWARK_GIT_REV='"$(GIT_REV)"'

COMMON_SRC := $(sort $(wildcard src/common/*.c))
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
COMMON_LIB := $(BUILD)/libbulwark.a

# Binaries: one folder each; a binary is built once its folder has a main.c. The folder's other sources also go
# into a library of their own (build/lib<folder>.a) that the unit tests link, so pure logic such as the
# sentinel's planner is tested without the daemon around it.
BIN_DIRS := ctl keeper sentinel proxy
bin_name = $(if $(filter ctl,$(1)),bulwarkctl,bulwark-$(1))
BINARIES := $(foreach d,$(BIN_DIRS),$(if $(wildcard src/$(d)/main.c),$(call bin_name,$(d))))
BIN_PATHS := $(BINARIES:%=$(BUILD)/bin/%)
dir_objs = $(patsubst %.c,$(BUILD)/obj/%.o,$(filter-out src/$(1)/main.c,$(sort $(wildcard src/$(1)/*.c))))
DIR_LIBS := $(foreach d,$(BIN_DIRS),$(if $(call dir_objs,$(d)),$(BUILD)/lib$(d).a))

define dir_rules
$(BUILD)/lib$(1).a: $(call dir_objs,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^

$(BUILD)/bin/$(call bin_name,$(1)): $(BUILD)/obj/src/$(1)/main.o $(if $(call dir_objs,$(1)),$(BUILD)/lib$(1).a) $(COMMON_LIB)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach d,$(BIN_DIRS),$(eval $(call dir_rules,$(d))))

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

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTLIB_OBJ) $(DIR_LIBS) $(COMMON_LIB)
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
	    || { echo "lint: banned functions above (see docs/hacking.md)"; exit 1; }
	@echo "lint: no banned functions"
	@scripts/check-refs

PREFIX ?= /usr/local
install: $(BIN_PATHS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN_PATHS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
