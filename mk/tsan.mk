# ThreadSanitizer (sessions under load, docs/architecture.md): tests/test_sessions.c (four sessions on
# four threads sharing one model) and the library built with -fsanitize=thread
# in build-tsan/, then run; prints "P passed, F failed" like tests/run.sh.
TSAN_BUILD := build-tsan
.PHONY: tsan-test
tsan-test:
	$(MAKE) BUILD=$(TSAN_BUILD) OPT=-O1 SAN="-fsanitize=thread -fno-omit-frame-pointer -DN_IMAGES=2" $(TSAN_BUILD)/tests/test_sessions
	@out=$$(TSAN_OPTIONS="halt_on_error=1 exitcode=66" $(TSAN_BUILD)/tests/test_sessions 2>&1); rc=$$?; \
	  printf '%s\n' "$$out"; \
	  p=$$(printf '%s\n' "$$out" | grep -c '^PASS: '); f=$$(printf '%s\n' "$$out" | grep -c '^FAIL: '); \
	  if [ $$rc -ne 0 ] && [ $$f -eq 0 ]; then echo "FAIL: test_sessions under ThreadSanitizer exited $$rc"; f=1; fi; \
	  echo "$$p passed, $$f failed"; [ $$f -eq 0 ]
