# Format sets as a design parameter (docs/formats.md): src/hw compiled with
# other formats as macros, the slow independent reference the fast twin is
# checked against (tests/hw_formats_test.sh).  Two sets: fa, W < 32
# everywhere with 8-bit weights (no wrap on the test images); fc, a 16-bit
# fm with 2 integer bits that wraps on every image, 12-bit weights, patch
# weights with negative integer bits, LayerNorm parameters with more
# fractional bits than fm (floored into its sums; gamma > 1 wraps when
# quantised).
HW_FMT_SETS := fa fc
HW_FMT_fa := -DHW_FM_W=24 -DHW_FM_I=8 -DHW_WT_W=8 -DHW_WT_I=2
HW_FMT_fc := -DHW_FM_W=16 -DHW_FM_I=2 -DHW_WT_W=12 -DHW_WT_I=1 -DHW_B5_W=16 -DHW_B5_I=1 -DHW_PW_W=12 -DHW_PW_I=-2 \
             -DHW_BQK_W=10 -DHW_BQK_I=0

$(BUILD)/hwfmt/check_hw_formats_%: tests/check_hw_formats.c src/engine/fixed.c $(wildcard src/hw/*.c src/hw/*.h) tests/test_util.h $(BUILD)/libedgemoe.a mk/formats.mk
	@mkdir -p $@.obj
	for f in $(HW_SRC); do $(CC) $(HW_CFLAGS) $(HW_FMT_$*) -Isrc/hw -c $$f -o $@.obj/$$(basename $$f .c).o || exit 1; done
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(HW_FMT_$*) -c src/engine/fixed.c -o $@.obj/fixed.o
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) $(HW_FMT_$*) $(LDFLAGS) -o $@ tests/check_hw_formats.c $@.obj/*.o $(BUILD)/libedgemoe.a $(LDLIBS)

# The SystemC oracle of the primitives, at the same sets.
$(BUILD)/oracle/hw_oracle_%: tests/oracle/sc_oracle.cpp $(wildcard src/hw/*.h) mk/formats.mk
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -O1 $(SAN) $(HW_FMT_$*) -Isrc/hw -o $@ tests/oracle/sc_oracle.cpp $(LDFLAGS) -lsystemc
