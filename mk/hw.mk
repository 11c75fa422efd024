# Rules of the accelerator twin (docs/fixed.md): the SystemC oracle of the
# fixed-point primitives, and the attention check built for P = 1, 2, 4, 8.
CXX ?= c++

$(BUILD)/oracle/hw_oracle: tests/oracle/sc_oracle.cpp $(wildcard src/hw/*.h)
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O1 $(SAN) -Isrc/hw -o $@ tests/oracle/sc_oracle.cpp $(LDFLAGS) -lsystemc

# The attention unit compiled with each query-group size P (compile-time).
HW_ATTN_P := 1 2 4 8
HW_ATTN_BINS := $(foreach p,$(HW_ATTN_P),$(BUILD)/hwp/check_hw_attn_p$(p))
$(BUILD)/hwp/check_hw_attn_p%: tests/check_hw_attn.c $(wildcard src/hw/*.c src/hw/*.h) tests/test_util.h
	@mkdir -p $@.obj
	for f in $(HW_SRC); do $(CC) $(HW_CFLAGS) -DATTN_P=$* -Isrc/hw -c $$f -o $@.obj/$$(basename $$f .c).o || exit 1; done
	$(CC) -std=c11 $(CFLAGS) $(SAN) -DATTN_P=$* -Isrc -Isrc/hw -Itests -o $@ tests/check_hw_attn.c $@.obj/*.o $(LDFLAGS) -lm

# The synthesis view (tests/hw_synth_test.sh): src/hw compiled with
# -D__SYNTHESIS__ as an HLS tool sees it (statistics compile to nothing),
# linked with the fixed engine's adapter into a test-only checker.
$(BUILD)/hwsynth/check_hw_synth: tests/check_hw_synth.c src/engine/fixed.c $(wildcard src/hw/*.c src/hw/*.h) tests/test_util.h $(BUILD)/libedgemoe.a
	@mkdir -p $@.obj
	for f in $(HW_SRC); do $(CC) $(HW_CFLAGS) -D__SYNTHESIS__ -Isrc/hw -c $$f -o $@.obj/$$(basename $$f .c).o || exit 1; done
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -D__SYNTHESIS__ -c src/engine/fixed.c -o $@.obj/fixed.o
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -D__SYNTHESIS__ $(LDFLAGS) -o $@ tests/check_hw_synth.c $@.obj/*.o $(BUILD)/libedgemoe.a $(LDLIBS)
