# Fast fixed-point twin (docs/fixed.md): the AVX2 and AVX512-VNNI kernels (dispatched
# at run time by CPU detection), -O3 for the kernels.
FXF_X86 := $(shell $(CC) -dumpmachine 2>/dev/null | grep -c '^x86_64')
$(BUILD)/src/engine/fixed_fast_kern.o: ALL_CFLAGS += -O3
ifeq ($(FXF_X86),1)
$(BUILD)/src/engine/fixed_fast_kern_avx2.o: ALL_CFLAGS += -O3 -mavx2
$(BUILD)/src/engine/fixed_fast_kern_avx512.o: ALL_CFLAGS += -O3 -mavx2 -mavx512f -mavx512bw -mavx512vl -mavx512vnni
endif
