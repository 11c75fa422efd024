#!/usr/bin/python3
"""The Python binding (python/edgemoe) against the CLI and the library's
contract: same features/logits/routing as `edgemoe run`, deterministic
scenes, and errors as exceptions carrying the library's message."""
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
BUILD = os.environ.get("BUILD", "build")
os.environ.setdefault("EDGEMOE_LIB", os.path.join(ROOT, BUILD, "libedgemoe.so"))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from pyharness import preload_sanitizers  # noqa: E402
preload_sanitizers(os.environ["EDGEMOE_LIB"])
import edgemoe  # noqa: E402
from pyharness import check, raises, done  # noqa: E402

EM = os.path.join(ROOT, BUILD, "edgemoe")
tmp = tempfile.mkdtemp(prefix="em_py.")

# scenes: deterministic, shaped, labelled
a = edgemoe.render_scene(5, "val", seed=3)
b = edgemoe.render_scene(5, "val", seed=3)
c = edgemoe.render_scene(5, "train", seed=3)
check("render_scene twice gives identical arrays", all(np.array_equal(x, y) for x, y in zip(a, b)))
check("train and val scene 5 differ", not np.array_equal(a[0], c[0]))
rgb, label, depth = a
check("shapes and dtypes", rgb.shape == (128, 256, 3) and rgb.dtype == np.uint8 and label.shape == (128, 256)
      and label.dtype == np.int8 and depth.shape == (128, 256) and depth.dtype == np.float32)
check("labels in -1..6", label.min() >= -1 and label.max() <= 6)
check("sky pixels have depth 0", np.all(depth[label == 4] == 0))
stack = edgemoe.render_scenes([5, 6], "val", seed=3)
check("render_scenes stacks render_scene", np.array_equal(stack[0][0], rgb) and
      np.array_equal(stack[2][1], edgemoe.render_scene(6, "val", seed=3)[2]))
small = edgemoe.render_scene(1, size=(64, 32))
check("other sizes", small[0].shape == (32, 64, 3))

# a run through the binding equals `edgemoe run` on the same PNG, both with
# the default (shipped) model
model = edgemoe.Model()
check("Model() is the default model the CLI uses", os.path.samefile(model.path, os.path.join(ROOT, "models",
                                                                                            "edgemoe-street.safetensors")))
check("Model('synthetic') is the untrained one", edgemoe.Model("synthetic").path == "synthetic")
sess = edgemoe.Session(model, engine="fast", threads=1)
check("model config and tasks", model.tasks == ["semseg", "depth"] and model.config["dim"] == 192
      and model.config["task_channels"] == [7, 1])
# an image as PNG (filter 0, written here) for the CLI, as an array for the binding
img = edgemoe.render_scene(11, "val")[0]


def write_png_rgb8(path, a):
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[y].tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


write_png_rgb8(os.path.join(tmp, "s.png"), img)
subprocess.run([EM, "run", "--engine", "fast", "--threads", "1", "--task", "semseg",
                "--image", os.path.join(tmp, "s.png"), "--features", os.path.join(tmp, "f.bin"),
                "--logits", os.path.join(tmp, "l.bin"), "--routing", os.path.join(tmp, "r.bin")], check=True)
out = sess.run(img, tasks="semseg")
f = np.fromfile(os.path.join(tmp, "f.bin"), "<f4").reshape(129, 192)
lg = np.fromfile(os.path.join(tmp, "l.bin"), "<f4").reshape(7, 128, 256)
r = np.fromfile(os.path.join(tmp, "r.bin"), "<i4").reshape(6, 129, 2)
check("features equal the CLI's bit for bit", np.array_equal(out["semseg"]["features"], f))
check("logits equal the CLI's bit for bit", np.array_equal(out["semseg"]["logits"], lg))
check("routing equals the CLI's", np.array_equal(out["semseg"]["routing"], r))
check("classes are the argmax of the logits", np.array_equal(out["semseg"]["classes"], lg.argmax(0)))
check("expert token counts match the routing",
      all(np.array_equal(out["semseg"]["expert_tokens"][l], np.bincount(r[l].ravel(), minlength=16))
          for l in range(6)))
both = sess.run(img)
check("tasks='all' runs both tasks", set(both) == {"semseg", "depth"} and both["depth"]["depth"].shape == (128, 256))
check("a float image v/255 gives the same input as its uint8 form",
      np.array_equal(model.prepare(img.astype(np.float32) / 255), model.prepare(img)))
big = np.repeat(np.repeat(img, 2, 0), 2, 1)
check("a larger image is resized as the CLI does", model.prepare(big).shape == (3, 128, 256))
ref = edgemoe.Session(model, engine="ref")
check("ref engine agrees with fast", np.allclose(ref.run(img, "semseg")["semseg"]["features"],
                                                 out["semseg"]["features"], rtol=0, atol=1e-3))

# errors become exceptions with the library's message
raises("missing model file", edgemoe.Error, "cannot open", lambda: edgemoe.Model(os.path.join(tmp, "nope.st")))
raises("unknown engine", edgemoe.Error, "unknown engine", lambda: edgemoe.Session(model, engine="gpu"))
raises("unknown task", edgemoe.Error, "unknown task", lambda: sess.run(img, tasks="normals"))
raises("wrong image shape", edgemoe.Error, "H x W x 3", lambda: sess.run(np.zeros((10, 10), np.uint8)))
nan = img.astype(np.float32) / 255
nan[3, 4, 1] = np.nan
raises("NaN in a float image", edgemoe.Error, "non-finite", lambda: sess.run(nan))
raises("unknown split", edgemoe.Error, "unknown split", lambda: edgemoe.render_scene(0, "test"))
raises("bad scene size", edgemoe.Error, "", lambda: edgemoe.render_scene(0, size=(0, 10)))
shutil.rmtree(tmp)
done()
