# Fuzzing (libFuzzer from Debian's clang, under ASan + UBSan): one target per
# parser, seed corpora in tests/fuzz/corpus/<target>/.
#   make fuzz-smoke          every target FUZZ_SMOKE_S seconds (CI), PASS/FAIL lines
#   make fuzz FUZZ_S=1800    long runs, corpora grown in $(FUZZ_BUILD)/corpus/<target>
#   make fuzz-seeds          rewrites the committed seeds
FUZZ_BUILD   ?= build-fuzz
FUZZ_TARGETS := safetensors edgemoe_dir config npy image y4m formats
FUZZ_SAN     := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=undefined,float-cast-overflow -fno-omit-frame-pointer
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/fuzz_%)
FUZZ_SMOKE_S ?= 20
FUZZ_S       ?= 1800

# the library, built by a sub-make with clang and the sanitizers (whose
# BUILD is FUZZ_BUILD: there the Makefile's own rule builds it)
ifneq ($(BUILD),$(FUZZ_BUILD))
$(FUZZ_BUILD)/libedgemoe.a: FORCE_FUZZ_LIB
	$(MAKE) --no-print-directory CC=clang BUILD=$(FUZZ_BUILD) OPT=-O1 SAN="-fsanitize=fuzzer-no-link $(FUZZ_SAN)" $(FUZZ_BUILD)/libedgemoe.a

$(FUZZ_BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h $(FUZZ_BUILD)/libedgemoe.a
	@mkdir -p $(dir $@)
	clang -std=c11 -O1 -g $(CPPFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(FUZZ_BUILD)/libedgemoe.a $(LDLIBS)

endif

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-seeds FORCE_FUZZ_LIB
FORCE_FUZZ_LIB:
fuzz-build: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_SMOKE_S) $(FUZZ_TARGETS)

fuzz: $(FUZZ_BINS)
	FUZZ_BUILD=$(FUZZ_BUILD) tests/fuzz/run.sh $(FUZZ_S) $(FUZZ_TARGETS)

fuzz-seeds:
	@mkdir -p $(BUILD)
	$(CC) -O1 -o $(BUILD)/make_seeds tests/fuzz/make_seeds.c -lpng -ljpeg
	$(BUILD)/make_seeds tests/fuzz/corpus/image
	/usr/bin/python3 tests/fuzz/make_seeds.py
