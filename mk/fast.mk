# Fast engine (docs/fast.md): per-file ISA flags for the SIMD kernel
# instantiations (dispatched at run time by CPU detection), -O3 for kernels.
FAST_X86 := $(shell $(CC) -dumpmachine 2>/dev/null | grep -c '^x86_64')
$(BUILD)/src/engine/fast_kern_c.o: ALL_CFLAGS += -O3
# gvec: let the compiler fuse a*b+c where the target has FMA (arm64)
$(BUILD)/src/engine/fast_kern_gvec.o: ALL_CFLAGS += -O3 -ffp-contract=fast
ifeq ($(FAST_X86),1)
$(BUILD)/src/engine/fast_kern_avx2.o: ALL_CFLAGS += -O3 -mavx2 -mfma
$(BUILD)/src/engine/fast_kern_avx512.o: ALL_CFLAGS += -O3 -mavx512f -mavx2 -mfma
endif

# The benchmark compares the kernels with OpenBLAS (libopenblas-dev); the
# library itself does not link it.
$(BUILD)/bench/bench_fast: LDLIBS += -lopenblas
