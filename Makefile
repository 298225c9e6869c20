# mercato — build, run and test.
#
#   make run                 install missing dependencies, build, migrate, serve on 127.0.0.1:8080
#   make test                install missing dependencies, build, run every test (SQLite)
#   make test-pg             the database and API tests against a throw-away PostgreSQL 15
#   make MODE=release        optimised build (-O2, LTO)
#   make SANITIZE=address,undefined test    the suite under ASan + UBSan
#   make fuzz                build libFuzzer harnesses with clang (build/fuzz/)
#   make bench               build in release mode and run the benchmarks (see bench/README.md)

MODE ?= debug
SANITIZE ?=
BUILD := build/$(MODE)$(if $(SANITIZE),-san)
CC := gcc
PKGS := libmicrohttpd jansson sqlite3 libpq libsodium libjwt libcurl openssl
# linked: the binary does not link libpq, libcurl and libcrypto (loaded on first use,
# src/util/lazylib.h) nor libjwt (tests compare our tokens with its)
LINK_PKGS := libmicrohttpd jansson sqlite3 libsodium
TEST_PKGS := libjwt libcurl libcrypto
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)

# pkg-config runs when a recipe needs these (after deps are installed)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS = $(shell pkg-config --libs $(LINK_PKGS))
TEST_LIBS = $(shell pkg-config --libs $(TEST_PKGS))

WARN := -Wall -Wextra -Werror -Wno-unused-parameter -Wformat=2 -Wno-format-nonliteral -Wvla
ifeq ($(MODE),release)
OPT := -O2 -flto=auto -DNDEBUG
OPT_LD := -flto=auto
else ifeq ($(MODE),debug)
OPT := -O1 -fno-omit-frame-pointer
OPT_LD :=
else
$(error MODE must be debug or release)
endif
ifneq ($(SANITIZE),)
SAN := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

CFLAGS_ALL = -std=gnu11 -D_GNU_SOURCE -g -pthread $(OPT) $(SAN) $(WARN) -Isrc -DMERCATO_COMMIT='"$(COMMIT)"' $(PKG_CFLAGS)
LDFLAGS_ALL = -pthread $(OPT_LD) $(SAN)
LIBS_ALL = $(PKG_LIBS) -lm

SRC := $(shell find src -name '*.c' ! -name main.c | sort)
OBJ := $(SRC:%.c=$(BUILD)/obj/%.o)
EMBED_FILES := $(sort $(wildcard migrations/sqlite/*.sql migrations/postgres/*.sql)) docs/openapi.json docs/api.html $(sort $(wildcard templates/mail/*))
UNIT_SRC := $(shell find tests/unit -name 'test_*.c' 2>/dev/null | sort)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/fuzz/%)
BENCH_SRC := $(sort $(wildcard bench/*_bench.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: all build deps run test test-pg test-unit test-api fuzz bench clean help lint-openapi FORCE
.DEFAULT_GOAL := build

help:
	@sed -n '1,12p' Makefile

deps:
	@scripts/deps.sh

# entry points that first make sure the machine has what the build needs
build: deps
	@$(MAKE) --no-print-directory all

all: $(BUILD)/mercato $(UNIT_BIN) $(FUZZ_REPLAY) $(BENCH_BIN)

run: deps
	@$(MAKE) --no-print-directory MODE=$(MODE) $(BUILD)/mercato
	@mkdir -p var
	$(BUILD)/mercato serve --demo $(ARGS)

test: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh sqlite

test-pg: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) tests/run.sh postgres

$(BUILD)/tools/embed: tools/embed.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -o $@ $<

# docs/openapi.json is generated from the per-module fragments (and committed,
# so the merged document is readable in the repository)
OPENAPI_FRAGMENTS := $(sort $(wildcard docs/openapi/*.json))

$(BUILD)/tools/openapi_merge: tools/openapi_merge.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -Wall -Wextra -Werror -o $@ $< $(shell pkg-config --cflags --libs jansson)

docs/openapi.json: $(BUILD)/tools/openapi_merge $(OPENAPI_FRAGMENTS)
	$(BUILD)/tools/openapi_merge $@ $(OPENAPI_FRAGMENTS)
	@touch $@

# the list of embedded files as a file of its own, rewritten only when the
# list changes: a migration (or template) removed or renamed would otherwise
# leave the old one embedded, since no remaining prerequisite is newer
$(BUILD)/gen/embed.list: FORCE
	@mkdir -p $(dir $@)
	@echo '$(EMBED_FILES)' | cmp -s - $@ || echo '$(EMBED_FILES)' > $@

FORCE:

$(BUILD)/gen/embed.c: $(BUILD)/tools/embed $(EMBED_FILES) $(BUILD)/gen/embed.list
	@mkdir -p $(dir $@)
	$(BUILD)/tools/embed $@ $(EMBED_FILES)

$(BUILD)/obj/gen/embed.o: $(BUILD)/gen/embed.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILD)/libmercato.a: $(OBJ) $(BUILD)/obj/gen/embed.o
	@rm -f $@
	gcc-ar rcs $@ $^

$(BUILD)/mercato: $(BUILD)/obj/src/main.o $(BUILD)/libmercato.a
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS_ALL)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libmercato.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(shell pkg-config --cflags cmocka) -o $@ $< $(BUILD)/libmercato.a $(LDFLAGS_ALL) $(LIBS_ALL) $(TEST_LIBS) $(shell pkg-config --libs cmocka)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libmercato.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(BUILD)/libmercato.a $(LDFLAGS_ALL) $(LIBS_ALL) $(TEST_LIBS)

# fuzz harnesses linked with the standalone corpus-replay driver (gcc)
$(BUILD)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(BUILD)/libmercato.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -o $@ $< tests/fuzz/replay_main.c $(BUILD)/libmercato.a $(LDFLAGS_ALL) $(LIBS_ALL)

# real libFuzzer builds (clang); run e.g. build/fuzz/fuzz_uri tests/fuzz/corpus/fuzz_uri
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
fuzz-build:
	@mkdir -p build/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "clang $$n"; \
	  clang -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -I build/fuzz $(PKG_CFLAGS) \
	    -o build/fuzz/$$n $$f $(filter-out src/main.c,$(SRC)) build/debug/gen/embed.c $(PKG_LIBS) -lm || exit 1; \
	done

bench: deps
	@$(MAKE) --no-print-directory MODE=release all
	bench/http.sh

clean:
	rm -rf build

-include $(OBJ:.o=.d) $(BUILD)/obj/src/main.d
