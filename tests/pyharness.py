"""PASS/FAIL lines for the Python tests (counted by tests/run.sh)."""
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


def skip(reason):
    print("SKIP: %s" % reason, flush=True)


def failures():
    """FAIL lines printed so far."""
    return _failed[0]


def done():
    sys.exit(1 if _failed[0] else 0)
