"""PASS/FAIL lines for the Python tests (counted by tests/run.sh)."""
import os
import subprocess
import sys

_failed = [0]


def check(name, ok, detail=""):
    print("%s: %s%s" % ("PASS" if ok else "FAIL", name, (" (" + detail + ")") if detail and not ok else ""),
          flush=True)
    if not ok:
        _failed[0] += 1
    return ok


def raises(name, exc, text, fn):
    """fn() must raise exc whose message contains text."""
    try:
        fn()
    except exc as e:
        return check("%s: %s" % (name, e), text in str(e), "message lacks %r" % text)
    except Exception as e:  # noqa: BLE001  (any other exception is a failure)
        return check(name, False, "raised %s: %s" % (type(e).__name__, e))
    return check(name, False, "nothing raised")


def preload_sanitizers(lib_path):
    """A library built with ASan/UBSan (make sanitize-test) loads into Python
    only when the process starts with their runtimes: re-execute this test
    with them preloaded (leak checks off: CPython never frees some of its
    own allocations).  No-op for an ordinary build."""
    if os.environ.get("EM_SAN_PRELOADED"):
        return
    try:
        with open(lib_path, "rb") as f:
            if b"__asan_init" not in f.read():
                return
    except OSError:
        return
    libs = [subprocess.run(["gcc", "-print-file-name=lib%s.so" % n], capture_output=True, text=True,
                           check=True).stdout.strip() for n in ("asan", "ubsan")]
    env = dict(os.environ, LD_PRELOAD=" ".join(libs), EM_SAN_PRELOADED="1")
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    sys.stdout.flush()
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def skip(reason):
    print("SKIP: %s" % reason, flush=True)


def failures():
    """FAIL lines printed so far."""
    return _failed[0]


def done():
    sys.exit(1 if _failed[0] else 0)
