# Street-scene generator (docs/scenes.md): -O3 for speed, and no fused multiply-add
# so the same (seed, split, index) gives the same bytes on every machine
# (-fno-math-errno -fno-trapping-math let loops with sqrtf and divisions
# vectorise; they change no result).
$(BUILD)/src/scenes/%.o: ALL_CFLAGS += -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math
$(BUILD)/tests/test_scenes: ALL_CFLAGS += -ffp-contract=off

# tests/test_scenes_isa: the renderer compiled once per instruction set it is
# cloned for (plain x86-64, AVX2, x86-64-v4), each copy's symbols renamed, so
# that the test can hold every copy the CPU runs to the same bytes.
SCN_PUBLIC := em_world_render em_prim_intersect em_prim_surface_dist em_terrain_intersect em_terrain_class \
              em_terrain_surface_dist em_bonnet_at em_render_scratch_bytes
SCN_ISA_X86 := $(shell $(CC) -dumpmachine 2>/dev/null | grep -c '^x86_64')
ifeq ($(SCN_ISA_X86),1)
SCN_ISAS := plain avx2 v4
SCN_ISA_FLAGS_plain :=
SCN_ISA_FLAGS_avx2 := -mavx2
SCN_ISA_FLAGS_v4 := -march=x86-64-v4
else
SCN_ISAS := plain
endif
$(BUILD)/tests/scn_render_%.o: src/scenes/render.c src/scenes/scene.h src/scenes/smath.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -O3 -ffp-contract=off -fno-math-errno -fno-trapping-math $(SCN_ISA_FLAGS_$*) \
	    -DEM_SCENES_NO_CLONES -DSCN_ISA=$* $(foreach f,$(SCN_PUBLIC),-D$(f)=$(f)_$*) -c $< -o $@
$(BUILD)/tests/test_scenes_isa: tests/test_scenes_isa.c tests/test_util.h $(BUILD)/libedgemoe.a \
                                $(SCN_ISAS:%=$(BUILD)/tests/scn_render_%.o)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) $(SCN_ISAS:%=-DSCN_HAVE_%) $(LDFLAGS) -o $@ $< \
	    $(SCN_ISAS:%=$(BUILD)/tests/scn_render_%.o) $(BUILD)/libedgemoe.a $(LDLIBS)
