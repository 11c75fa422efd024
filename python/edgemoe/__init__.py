"""edgemoe from Python: ctypes over the shared library that `make` builds
(build/libedgemoe.so; EDGEMOE_LIB overrides the path).

    import edgemoe
    model = edgemoe.Model("models/edgemoe-street.safetensors")
    sess = edgemoe.Session(model, engine="fast")
    rgb, label, depth = edgemoe.render_scene(7, split="val")
    out = sess.run(rgb)                      # {"semseg": {...}, "depth": {...}}
    out["semseg"]["classes"], out["depth"]["depth"]

Arrays come back as fresh numpy copies; errors raise edgemoe.Error with the
library's one-line message.  A Session borrows its Model: keep the Model alive
while the Session is used (the Session holds a reference to it).
"""
import ctypes as C
import os

import numpy as np

EM_MAX_TASKS = 8
EM_NAME_LEN = 32
EM_ERR_LEN = 512
CLASS_NAMES = ("flat", "construction", "object", "nature", "sky", "human", "vehicle")
SPLITS = {"train": 0, "val": 1}
ENGINES = {"ref": 0, "fast": 1, "fixed": 2, "hw": 3}


class Error(Exception):
    """A failed library call: .code is the negative em error code."""

    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


class _Err(C.Structure):
    _fields_ = [("msg", C.c_char * EM_ERR_LEN)]


class _Config(C.Structure):  # em_config, field for field
    _fields_ = [(n, C.c_int) for n in ("img_c", "img_h", "img_w", "patch", "grid_h", "grid_w", "n_tok",
                                        "dim", "depth", "n_heads", "head_dim", "mlp_hidden", "n_experts",
                                        "expert_hidden", "top_k", "n_tasks")] + [
        ("task_name", (C.c_char * EM_NAME_LEN) * EM_MAX_TASKS),
        ("task_channels", C.c_int * EM_MAX_TASKS),
        ("head_ch", C.c_int), ("ln_eps", C.c_float), ("bn_eps", C.c_float), ("moe_layers", C.c_uint32)]


class _TaskOutput(C.Structure):  # em_task_output
    _fields_ = [("features", C.POINTER(C.c_float)), ("logits", C.POINTER(C.c_float)),
                ("routing", C.POINTER(C.c_int32)), ("gate_prob", C.POINTER(C.c_float)),
                ("expert_tokens", C.POINTER(C.c_int32)),
                ("backbone_ms", C.c_double), ("head_ms", C.c_double), ("total_ms", C.c_double),
                ("shared_ms", C.c_double)]


class _SessionOpts(C.Structure):  # em_session_opts
    _fields_ = [("engine", C.c_int), ("threads", C.c_int), ("skip_head", C.c_int),
                ("trace", C.c_void_p), ("trace_user", C.c_void_p), ("formats", C.c_void_p)]


def _find_lib():
    env = os.environ.get("EDGEMOE_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(here, "..", "..", "build", "libedgemoe.so")


_lib = C.CDLL(_find_lib())
_P = C.c_void_p
_lib.em_model_open.restype = _P
_lib.em_model_open.argtypes = [C.c_char_p, C.POINTER(_Err)]
_lib.em_default_model_path.restype = C.c_char_p
_lib.em_default_model_path.argtypes = []
_lib.em_model_close.argtypes = [_P]
_lib.em_session_new.restype = _P
_lib.em_session_new.argtypes = [_P, C.POINTER(_SessionOpts), C.POINTER(_Err)]
_lib.em_session_free.argtypes = [_P]
_lib.em_session_run.argtypes = [_P, C.POINTER(C.c_float), C.c_uint, C.POINTER(_Err)]
_lib.em_session_output.restype = C.POINTER(_TaskOutput)
_lib.em_session_output.argtypes = [_P, C.c_int]
_lib.em_image_from_rgb8.argtypes = [C.POINTER(C.c_uint8), C.c_int, C.c_int, C.POINTER(_Config),
                                    C.POINTER(C.c_float), C.POINTER(_Err)]
_lib.em_scene_render.argtypes = [C.c_uint64, C.c_int, C.c_uint64, C.c_int, C.c_int,
                                 C.POINTER(C.c_uint8), C.POINTER(C.c_int8), C.POINTER(C.c_float),
                                 C.POINTER(_Err)]


def _check(rc, err):
    if rc != 0:
        raise Error(rc, err.msg.decode(errors="replace"))


def _ptr(a, ctype):
    return a.ctypes.data_as(C.POINTER(ctype))


def _config_of(model_ptr):
    # em_model starts with its em_config
    return _Config.from_address(model_ptr)


class Model:
    """A loaded model: a .safetensors file, an Edge-MoE weight directory,
    None for the shipped model (models/edgemoe-street.safetensors, or
    $EDGEMOE_MODEL), or "synthetic" (the untrained deterministic model)."""

    def __init__(self, path=None):
        err = _Err()
        self._m = _lib.em_model_open(None if path is None else os.fsencode(path), C.byref(err))
        if not self._m:
            raise Error(-1, err.msg.decode(errors="replace"))
        self.path = path if path is not None else _lib.em_default_model_path().decode()
        c = _config_of(self._m)
        self._cfg = c
        self.tasks = [c.task_name[t].value.decode() for t in range(c.n_tasks)]
        self.config = {f: getattr(c, f) for f, _ in _Config._fields_
                       if f not in ("task_name", "task_channels")}
        self.config["task_name"] = list(self.tasks)
        self.config["task_channels"] = [c.task_channels[t] for t in range(c.n_tasks)]

    def close(self):
        if getattr(self, "_m", None):
            _lib.em_model_close(self._m)
            self._m = None

    def __del__(self):
        self.close()

    def prepare(self, image):
        """numpy H x W x 3 (uint8, or float in [0, 1]) -> the model's input
        [3][img_h][img_w] float32: resized as images are, pixel v -> v/256.
        A float image is first quantised to v = round(x * 255)."""
        a = np.asarray(image)
        if a.ndim != 3 or a.shape[2] != 3:
            raise Error(-3, "image must be H x W x 3, got shape %s" % (a.shape,))
        if a.dtype != np.uint8:
            a = a.astype(np.float64)
            if not np.all(np.isfinite(a)):
                raise Error(-4, "image has a non-finite value")
            a = np.rint(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
        a = np.ascontiguousarray(a)
        c = self._cfg
        out = np.empty((c.img_c, c.img_h, c.img_w), np.float32)
        err = _Err()
        _check(_lib.em_image_from_rgb8(_ptr(a, C.c_uint8), a.shape[1], a.shape[0], C.byref(c),
                                       _ptr(out, C.c_float), C.byref(err)), err)
        return out


class Session:
    """An engine ("fast", "ref", "fixed" or "hw") with its buffers, reused for
    every image.  One thread at a time."""

    def __init__(self, model, engine="fast", threads=0, skip_head=False):
        if engine not in ENGINES:
            raise Error(-5, "unknown engine '%s' (%s)" % (engine, ", ".join(ENGINES)))
        self.model = model
        self.engine = engine
        opts = _SessionOpts(ENGINES[engine], int(threads), int(bool(skip_head)), None, None, None)
        err = _Err()
        self._s = _lib.em_session_new(model._m, C.byref(opts), C.byref(err))
        if not self._s:
            raise Error(-1, err.msg.decode(errors="replace"))
        self.skip_head = skip_head

    def close(self):
        if getattr(self, "_s", None):
            _lib.em_session_free(self._s)
            self._s = None

    def __del__(self):
        self.close()

    def run(self, image, tasks="all"):
        """image: H x W x 3 uint8/float (prepared as Model.prepare does) or an
        already prepared [3][h][w] float32.  tasks: "all", a name or a list.
        Returns {task: {"features" [N][D], "logits" [C][H][W], "classes" [H][W]
        (semseg-like tasks) or "depth" [H][W] (one channel), "routing"
        [L][N][k], "gate_prob" [L][N][k], "expert_tokens" [L][E], "ms"}}."""
        c = self.model._cfg
        a = np.asarray(image)
        if a.ndim == 3 and a.shape == (c.img_c, c.img_h, c.img_w) and a.dtype == np.float32:
            x = np.ascontiguousarray(a)
        else:
            x = self.model.prepare(a)
        names = self.model.tasks
        if tasks == "all":
            sel = list(range(len(names)))
        else:
            sel = []
            for t in ([tasks] if isinstance(tasks, str) else tasks):
                if t not in names:
                    raise Error(-5, "unknown task '%s' (%s)" % (t, ", ".join(names)))
                sel.append(names.index(t))
        mask = 0
        for t in sel:
            mask |= 1 << t
        err = _Err()
        _check(_lib.em_session_run(self._s, _ptr(x, C.c_float), mask, C.byref(err)), err)
        n_moe = sum(c.moe_layers >> l & 1 for l in range(c.depth))
        res = {}
        for t in sel:
            o = _lib.em_session_output(self._s, t).contents
            ch = c.task_channels[t]

            def arr(p, shape, dt=np.float32):
                return np.ctypeslib.as_array(p, shape=shape).astype(dt, copy=True)
            r = {"features": arr(o.features, (c.n_tok, c.dim)),
                 "routing": arr(o.routing, (n_moe, c.n_tok, c.top_k), np.int32),
                 "gate_prob": arr(o.gate_prob, (n_moe, c.n_tok, c.top_k)),
                 "expert_tokens": arr(o.expert_tokens, (n_moe, c.n_experts), np.int32),
                 "ms": {"backbone": o.backbone_ms, "head": o.head_ms, "total": o.total_ms}}
            if not self.skip_head:
                lg = arr(o.logits, (ch, c.img_h, c.img_w))
                r["logits"] = lg
                if ch == 1:
                    r["depth"] = lg[0]
                else:
                    r["classes"] = lg.argmax(axis=0).astype(np.uint8)
            res[names[t]] = r
        return res


def render_scene(index, split="train", seed=1, size=(256, 128)):
    """Scene `index` of the generator: (rgb uint8 [h][w][3], label int8 [h][w]
    with -1 = ignore, depth float32 [h][w] metres with 0 = invalid)."""
    if split not in SPLITS:
        raise Error(-5, "unknown split '%s' (train, val)" % split)
    w, h = size
    rgb = np.empty((h, w, 3), np.uint8)
    label = np.empty((h, w), np.int8)
    depth = np.empty((h, w), np.float32)
    err = _Err()
    _check(_lib.em_scene_render(seed, SPLITS[split], index, w, h, _ptr(rgb, C.c_uint8),
                                _ptr(label, C.c_int8), _ptr(depth, C.c_float), C.byref(err)), err)
    return rgb, label, depth


def render_scenes(indices, split="train", seed=1, size=(256, 128)):
    """Several scenes stacked: rgb [n][h][w][3], label [n][h][w], depth [n][h][w]."""
    if split not in SPLITS:
        raise Error(-5, "unknown split '%s' (train, val)" % split)
    w, h = size
    n = len(indices)
    rgb = np.empty((n, h, w, 3), np.uint8)
    label = np.empty((n, h, w), np.int8)
    depth = np.empty((n, h, w), np.float32)
    err = _Err()
    for j, i in enumerate(indices):
        _check(_lib.em_scene_render(seed, SPLITS[split], int(i), w, h, _ptr(rgb[j], C.c_uint8),
                                    _ptr(label[j], C.c_int8), _ptr(depth[j], C.c_float),
                                    C.byref(err)), err)
    return rgb, label, depth
