"""The .npy reader and writer (src/data/npy.c) against numpy, both directions:

1. arrays numpy writes (format versions 1.0, 2.0, 3.0; ranks 1-4; special
   values: +-0, +-inf, NaN payloads, denormals) read in C with equal bits and shape;
2. arrays C writes load in numpy with equal bits, dtype <f4, C order, version 1.0,
   data offset a multiple of 64;
3. files numpy writes that are not C-order little-endian float32 of the
   expected shape (<f8, >f4, |u1, Fortran order, wrong shape or rank), and
   damaged files (truncated data or header, bad magic, a header length that
   lies) are refused: exit 1, one stderr line naming the file.
Needs $BUILD/tests/check_npy (tests/check_npy.c)."""
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("BUILD", "build")
CHECK = os.path.join(ROOT, BUILD, "tests", "check_npy")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyharness as ph  # noqa: E402  (tests/pyharness.py: the PASS/FAIL lines)


def check(cond, msg):
    return ph.check(msg, bool(cond))


def run(*args):
    return subprocess.run([CHECK] + [str(a) for a in args], capture_output=True, text=True)


def save_version(path, arr, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, version=version)


def special_values(n, rng):
    v = rng.standard_normal(n).astype("<f4")
    bits = v.view("<u4")
    specials = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFA12345,
                         0x00000001, 0x807FFFFF, 0x7F7FFFFF], dtype="<u4")
    k = min(n, len(specials))
    bits[:k] = specials[:k]
    return bits.view("<f4")


def main():
    if not os.path.exists(CHECK):
        check(False, "%s exists (build it first)" % CHECK)
        return
    tmp = tempfile.mkdtemp(prefix="em_npy_py_")
    rng = np.random.default_rng(9)
    try:
        # 1. numpy -> C
        shapes = [(7,), (4, 9), (128, 256, 3), (2, 3, 4, 5), (1,), (3, 1, 2)]
        for version in [(1, 0), (2, 0), (3, 0)]:
            for shape in shapes:
                arr = special_values(int(np.prod(shape)), rng).reshape(shape)
                path = os.path.join(tmp, "np_%d_%s.npy" % (version[0], "x".join(map(str, shape))))
                save_version(path, arr, version)
                raw = path + ".raw"
                want = list(shape)
                want[0] = -1  # any extent there
                r = run("read", path, raw, *want)
                ok = r.returncode == 0 and r.stdout.split() == ["shape"] + [str(s) for s in shape]
                ok = ok and open(raw, "rb").read() == arr.tobytes()
                check(ok, "numpy %d.0 %s -> C: equal bits and shape (%s)" % (version[0], shape, r.stderr.strip()))
        # np.save itself (whatever version it picks)
        arr = rng.random((128, 256, 3), dtype=np.float32)
        path = os.path.join(tmp, "save.npy")
        np.save(path, arr)
        r = run("read", path, path + ".raw", 128, 256, 3)
        check(r.returncode == 0 and open(path + ".raw", "rb").read() == arr.tobytes(), "np.save image -> C: equal bits")

        # 2. C -> numpy
        for shape in shapes + [(128, 256), (128, 256, 1)]:
            arr = special_values(int(np.prod(shape)), rng).reshape(shape)
            raw = os.path.join(tmp, "c_in.raw")
            arr.tofile(raw)
            path = os.path.join(tmp, "c_%s.npy" % "x".join(map(str, shape)))
            r = run("write", path, raw, *shape)
            ok = r.returncode == 0
            if ok:
                back = np.load(path)
                with open(path, "rb") as f:
                    ver = np.lib.format.read_magic(f)
                    hshape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                    off = f.tell()
                ok = (ver == (1, 0) and hshape == shape and not fortran and dtype == np.dtype("<f4")
                      and off % 64 == 0 and back.dtype == np.dtype("<f4") and back.shape == shape
                      and back.flags.c_contiguous and back.tobytes() == arr.tobytes())
            check(ok, "C -> numpy %s: version 1.0, <f4, C order, aligned, equal bits (%s)" % (shape, r.stderr.strip()))
        check(not [f for f in os.listdir(tmp) if ".tmp." in f], "C writer leaves no temporary files")

        # 3. refused
        good = rng.random((4, 6), dtype=np.float32)

        def refused(name, data, want=(4, 6), expect=""):
            path = os.path.join(tmp, name + ".npy")
            with open(path, "wb") as f:
                f.write(data)
            r = run("read", path, path + ".raw", *want)
            lines = r.stderr.splitlines()
            ok = (r.returncode == 1 and len(lines) == 1 and path in lines[0] and expect in lines[0]
                  and not os.path.exists(path + ".raw"))
            check(ok, "%s refused: rc=%d %r" % (name, r.returncode, r.stderr.strip()))

        def npy_bytes(arr, version=(1, 0)):
            b = io.BytesIO()
            np.lib.format.write_array(b, arr, version=version)
            return b.getvalue()

        refused("f8", npy_bytes(good.astype("<f8")), expect="<f8")
        refused("big_endian", npy_bytes(good.astype(">f4")), expect=">f4")
        refused("u1", npy_bytes((good * 255).astype("|u1")), expect="|u1")
        refused("i4", npy_bytes(good.astype("<i4")), expect="<i4")
        refused("fortran", npy_bytes(np.asfortranarray(good)), expect="Fortran")
        refused("wrong_shape", npy_bytes(good.reshape(6, 4)), expect="shape")
        refused("wrong_rank", npy_bytes(good.reshape(4, 6, 1)), expect="rank")
        refused("wrong_rank_v2", npy_bytes(good.reshape(24), (2, 0)), expect="rank")
        b = npy_bytes(good)
        refused("truncated_data", b[:-1], expect="truncated")
        refused("empty_data", b[:len(b) - good.nbytes], expect="truncated")
        refused("truncated_header", b[:30], expect="truncated")
        refused("truncated_magic", b[:4], expect="magic")
        refused("empty", b"", expect="magic")
        refused("bad_magic", b"\x93NUMPX" + b[6:], expect="magic")
        refused("not_npy", b"P6\n256 128\n255\n" + b"\0" * 100, expect="magic")
        hlen = struct.unpack("<H", b[8:10])[0]
        refused("hlen_short", b[:8] + struct.pack("<H", 30) + b[10:], expect="header")
        refused("hlen_long", b[:8] + struct.pack("<H", hlen + 16) + b[10:], expect="header")
        refused("hlen_huge", b[:8] + struct.pack("<H", 65535) + b[10:], expect="truncated")
        refused("trailing", b + b"\0\0\0\0", expect="after")
        refused("version_9", b[:6] + b"\x09\x00" + b[8:], expect="version")
        # a missing file is named too
        r = run("read", os.path.join(tmp, "nope.npy"), os.path.join(tmp, "nope.raw"), 4, 6)
        check(r.returncode == 1 and len(r.stderr.splitlines()) == 1 and "nope.npy" in r.stderr,
              "missing file refused: %r" % r.stderr.strip())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
sys.exit(1 if ph.failures() else 0)
