# Performance model (docs/sim.md).  The trip-count cross-check links src/hw and
# the fixed engine compiled with -DHW_COUNT_TRIPS (loop counters on, see
# hw_stats.h) for several ATTN_P into check_sim_trips_p<P>; the rest comes
# from the library.  tests/sim_trips_test.sh builds and runs them.
SIM_TRIP_P := 1 4 8
SIM_TRIP_BINS := $(foreach p,$(SIM_TRIP_P),$(BUILD)/simtrips/check_sim_trips_p$(p))

$(BUILD)/simtrips/check_sim_trips_p%: tests/check_sim_trips.c src/engine/fixed.c $(wildcard src/hw/*.c src/hw/*.h src/sim/*.h) tests/test_util.h $(BUILD)/libedgemoe.a
	@mkdir -p $@.obj
	for f in $(HW_SRC); do $(CC) $(HW_CFLAGS) -DHW_COUNT_TRIPS -DATTN_P=$* -Isrc/hw -c $$f -o $@.obj/$$(basename $$f .c).o || exit 1; done
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -DHW_COUNT_TRIPS -DATTN_P=$* -c src/engine/fixed.c -o $@.obj/fixed.o
	$(CC) $(CPPFLAGS) -Itests $(ALL_CFLAGS) -DHW_COUNT_TRIPS -DATTN_P=$* $(LDFLAGS) -o $@ tests/check_sim_trips.c $@.obj/*.o $(BUILD)/libedgemoe.a $(LDLIBS)

.PHONY: sim-trips
sim-trips: $(SIM_TRIP_BINS)

# --board NAME finds boards/NAME.json: $EDGEMOE_BOARDS, ../boards next to
# the executable, or this source tree's boards/ (compiled in here).
$(BUILD)/src/sim/sim_config.o: CPPFLAGS += -DEM_BOARDS_DIR='"$(CURDIR)/boards"'
