#!/usr/bin/env python3
"""tools/m3vit_convert.py against checkpoints that claim far more memory
than they hold (docs/safety.md): a broadcast or overlapping tensor view, a
zip record that inflates far beyond the file.  Each is refused with one
line, fast, under a memory cap that the unguarded reader would exceed."""
import os
import resource
import struct
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONVERT = os.path.join(ROOT, "tools", "m3vit_convert.py")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyharness as ph  # noqa: E402

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

MEM_CAP = 1 << 30  # 1 GiB of address space: the bombs below would take 6 GB


def pickle_one_tensor(offset, size, stride):
    """A torch.save data.pkl (protocol 2) of {'w': tensor} over storage '0'
    of 12 float32, written by hand so that any size and stride can be said."""
    def ints(v):
        return b"".join(b"J" + struct.pack("<i", x) for x in v)
    tup = {1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(size)]
    return (b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00wq\x02"
            b"ctorch._utils\n_rebuild_tensor_v2\nq\x03((X\x07\x00\x00\x00storageq\x04ctorch\nFloatStorage\nq\x05"
            b"X\x01\x00\x00\x000q\x06X\x03\x00\x00\x00cpuq\x07K\x0ctq\x08Q" + ints([offset]) + ints(size) + tup
            + ints(stride) + tup + b"\x89ccollections\nOrderedDict\nq\x0b)Rq\x0ctq\rRq\x0es.")


def write_pth(path, pkl, records=None, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression=compress) as z:
        z.writestr("m/data.pkl", pkl)
        z.writestr("m/version", "3\n")
        for name, data in (records or {"m/data/0": struct.pack("<12f", *range(12))}).items():
            z.writestr(name, data)


def run_capped(args):
    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (MEM_CAP, MEM_CAP))
    return subprocess.run([sys.executable, CONVERT] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, preexec_fn=cap, timeout=120)


def refused(name, pth, out, want, torch_too=True):
    for extra in (["--no-torch"], []) if (torch_too and HAVE_TORCH) else (["--no-torch"],):
        p = run_capped([pth, out] + extra)
        label = "%s (%s)" % (name, "torch-free reader" if extra else "torch.load")
        ph.check(label, p.returncode == 1 and p.stderr.count("\n") == 1 and want in p.stderr
                 and not os.path.exists(out), "rc=%d: %s" % (p.returncode, p.stderr.strip()[-300:]))


def main():
    tmp = tempfile.mkdtemp(prefix="em_convert_limits.")
    out = os.path.join(tmp, "out.safetensors")

    p = os.path.join(tmp, "stride0.pth")  # 620 bytes claiming a 40000 x 40000 tensor
    write_pth(p, pickle_one_tensor(0, [40000, 40000], [0, 0]))
    refused("stride-0 40000 x 40000 view of 12 floats", p, out, "stride 0")

    p = os.path.join(tmp, "overlap.pth")
    write_pth(p, pickle_one_tensor(0, [4, 4], [1, 1]))
    refused("overlapping 4 x 4 view (strides 1, 1)", p, out, "overlaps itself", torch_too=False)

    p = os.path.join(tmp, "bomb.pth")  # a record of 100 MB of zeros, deflated to about 100 KB
    write_pth(p, pickle_one_tensor(0, [3, 4], [4, 1]), {"m/data/0": bytes(100 << 20)}, zipfile.ZIP_DEFLATED)
    ph.check("the bomb file is small: %d bytes" % os.path.getsize(p), os.path.getsize(p) < (4 << 20))
    refused("zip record inflating to 100 MB", p, out, "zip bomb")

    p = os.path.join(tmp, "fine.pth")  # the control: a strided view that reads each element once
    write_pth(p, pickle_one_tensor(2, [2, 3], [1, 2]))
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import m3vit_convert as mc
    got = mc.read_pth_pure(p)["w"]
    ph.check("a strided view within its storage still reads: %s" % got.tolist(),
             got.tolist() == [[2, 4, 6], [3, 5, 7]])
    ph.done()


if __name__ == "__main__":
    main()
