# Street-scene generator (docs/scenes.md): -O3 for speed, and no fused multiply-add
# so the same (seed, split, index) gives the same bytes on every machine
# (-fno-math-errno -fno-trapping-math let loops with sqrtf and divisions
# vectorise; they change no result).
$(BUILD)/src/scenes/%.o: ALL_CFLAGS += -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math
$(BUILD)/tests/test_scenes: ALL_CFLAGS += -ffp-contract=off
