# Reference engine (src/engine/ref.c, ops_ref.c): -O3 lets the compiler
# vectorise its element-wise loops (the head's 3x3 convolution above all).
# Same results bit for bit: no reassociation, and no fused multiply-add in
# ISO C mode (-std=c11 implies -ffp-contract=off) without -mfma.
$(BUILD)/src/engine/ops_ref.o: ALL_CFLAGS += -O3
