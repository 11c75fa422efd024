# Street-scene generator (issue 9): -O3 for speed, and no fused multiply-add
# so the same (seed, split, index) gives the same bytes on every machine.
$(BUILD)/src/scenes/%.o: ALL_CFLAGS += -O3 -ffp-contract=off -fno-math-errno
$(BUILD)/tests/test_scenes: ALL_CFLAGS += -ffp-contract=off
