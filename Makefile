# edgemoe build.  `make` builds build/libedgemoe.a and build/edgemoe;
# `make test` builds and runs the whole suite; `make sanitize-test` runs it
# again under AddressSanitizer + UBSan.
CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare
CPPFLAGS := -Iinclude -Isrc -D_GNU_SOURCE
# -fPIC: the same objects make the static and the shared library (python/)
ALL_CFLAGS := -std=c11 $(WARN) $(CFLAGS) -fPIC -pthread
# hw/ is the synthesizable golden model: C99, pedantic, no libm.
HW_CFLAGS := -std=c99 -pedantic -Wall -Wextra -Werror -Wno-unknown-pragmas -Wno-unused-parameter $(CFLAGS) -fPIC
LDLIBS  := -lpng -ljpeg -lcjson -lm -pthread
SAN     ?=
ifneq ($(SAN),)
ALL_CFLAGS += $(SAN)
HW_CFLAGS  += $(SAN)
LDFLAGS    += $(SAN)
endif

# every folder of src/ but hw/, which has its own flags
LIB_SRC := $(filter-out src/hw/%,$(wildcard src/*/*.c)) $(wildcard src/*.c)
HW_SRC  := $(wildcard src/hw/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(HW_SRC:%.c=$(BUILD)/%.o)
TOOL_SRC := $(wildcard tools/*.c)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%) $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/check_*.c))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)


.PHONY: all test sanitize-test demo bench clean
all: $(BUILD)/edgemoe $(BUILD)/libedgemoe.so $(TEST_BIN)

$(BUILD)/src/hw/%.o: src/hw/%.c $(wildcard src/hw/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(HW_CFLAGS) -Isrc/hw -c $< -o $@

$(BUILD)/%.o: %.c $(wildcard include/*.h src/*/*.h src/*.h tools/*.h) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

# em_model_open(NULL) finds the shipped model in this tree's models/
$(BUILD)/src/model/model.o: CPPFLAGS += -DEM_MODEL_DIR='"$(CURDIR)/models"'

$(BUILD)/libedgemoe.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# the Python binding (python/edgemoe) loads this with ctypes
$(BUILD)/libedgemoe.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/edgemoe: $(TOOL_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libedgemoe.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test_util.h $(BUILD)/libedgemoe.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libedgemoe.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libedgemoe.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libedgemoe.a $(LDLIBS)

test: all
	BUILD=$(BUILD) tests/run.sh

sanitize-test:
	$(MAKE) BUILD=build-san OPT=-O1 SAN="-fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=undefined,float-cast-overflow" test

demo: $(BUILD)/edgemoe
	$(BUILD)/edgemoe sample-image --scene 7 $(BUILD)/sample.png
	$(BUILD)/edgemoe run --image $(BUILD)/sample.png --task all --out $(BUILD)/demo --json
	@echo "demo outputs in $(BUILD)/demo/"

bench: $(BUILD)/edgemoe $(BENCH_BIN)

clean:
	rm -rf build build-san

# Components may add rules in mk/*.mk (e.g. test-only oracles, bench drivers).
-include $(wildcard mk/*.mk)
