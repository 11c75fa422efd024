#!/usr/bin/python3
"""Convert an M3ViT PyTorch training checkpoint to an edgemoe .safetensors file.

Usage:
  m3vit_convert.py INPUT OUTPUT.safetensors [--no-torch] [--heads N] [--top-k K]
                   [--image-size HxW] [--ln-eps X] [--bn-eps X] [--quiet]

INPUT is
  - a checkpoint file saved with torch.save: a dict holding 'state_dict' or
    'model', or a bare state dict; a leading 'module.' on the keys is removed;
  - or a directory of per-rank files 0.pth .. K-1.pth (fastmoe expert
    parallelism): 0.pth holds everything, the others only expert tensors
    (mlp.experts.htoh4/h4toh weight and bias), whose expert dimension (dim 0)
    is concatenated in file order.

Reading: with torch importable, torch.load(map_location='cpu',
weights_only=True).  Without torch (or with --no-torch) the .pth zip archive
is read directly: its data.pkl is unpickled by a restricted unpickler that
resolves only the names a state dict needs (collections.OrderedDict,
torch._utils._rebuild_tensor_v2 / _rebuild_parameter, torch.*Storage), so no
code from the file ever runs; tensors are rebuilt with numpy from the
archive's data/<key> records (storage offset, strides, dtype float32,
float16, bfloat16, float64, int8..int64, bool).  The legacy (non-zip) format
of torch < 1.6 needs torch.

Keys (M3ViT MultiTaskModel):
  backbone.patch_embed.proj.{weight,bias}, backbone.cls_token [1,1,D],
  backbone.pos_embed [1,N,D], backbone.blocks.L.{norm1,norm2}.{weight,bias},
  backbone.blocks.L.attn.{qkv,proj}.{weight,bias},
  dense blocks: backbone.blocks.L.mlp.{fc1,fc2}.{weight,bias},
  MoE blocks: backbone.blocks.L.mlp.experts.{htoh4,h4toh}.{weight [E,out,in],
  bias [E,out]} and backbone.blocks.L.mlp.gate.T.w_gate [D,E] (T = task index,
  or the task's name; a single backbone.blocks.L.mlp.gate.w_gate is one gate
  shared by all tasks), decoders.TASK.norm.{weight,bias},
  decoders.TASK.conv_0..conv_4.{weight,bias},
  decoders.TASK.syncbn_fc_0..3.{weight,bias,running_mean,running_var,num_batches_tracked}.
Ignored (training-only): num_batches_tracked and the gates' w_noise, w_gate_aux,
w_noise_aux.  Any other key is an error, as is any missing one.

Output: F32 tensors named as edgemoe's (Edge-MoE file stems, see
docs/safetensors.md): pos_embed [N][D] gets the class token added into row 0;
w_gate [D,E] becomes l{L}_w_gate_T_task{T} [E][D].  __metadata__ is
{"format": "edgemoe", "edgemoe.config": "<JSON of em_config>"}.

Config: inferred from the shapes and checked for consistency.  Not visible in
the shapes, hence options: --heads (default D/64), --top-k (default 2),
--image-size (default 128x256 when the token count fits, else the square
image that does), --ln-eps 1e-6, --bn-eps 1e-5.  Task order: the order in
which decoders.<task> first appears among the keys.  MoE blocks are those
with experts, any of them (edgemoe's moe_layers, written to the config only
when they are not the odd blocks); every block has experts or a dense MLP.

Errors: one message on stderr, exit status 1, no output file (the output is
written to a temporary file and renamed into place at the end).
"""
import argparse
import collections
import json
import os
import pickle
import re
import struct
import sys
import tempfile
import zipfile
import zlib

import numpy as np


class ConvertError(Exception):
    pass


# ====================================================================== pure .pth reader
_STORAGES = {
    "FloatStorage": np.float32, "HalfStorage": np.float16, "BFloat16Storage": "bfloat16",
    "DoubleStorage": np.float64, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name):
        self.name = name
        dt = _STORAGES[name]
        self.bf16 = dt == "bfloat16"
        self.dtype = np.dtype(np.uint16 if self.bf16 else dt)


class _Storage:
    def __init__(self, stype, data):
        self.stype = stype
        self.data = data      # flat numpy array of the storage's element type


def _int_tuple(v, what):
    if not isinstance(v, (tuple, list)) or not all(isinstance(i, int) and i >= 0 for i in v):
        raise ConvertError("tensor %s is not a tuple of non-negative integers: %r" % (what, v))
    return tuple(v)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, _Storage):
        raise ConvertError("tensor record does not refer to a storage")
    if not isinstance(storage_offset, int) or storage_offset < 0:
        raise ConvertError("bad storage offset %r" % (storage_offset,))
    size = _int_tuple(size, "size")
    stride = _int_tuple(stride, "stride")
    if len(size) != len(stride):
        raise ConvertError("tensor size %s and stride %s differ in rank" % (size, stride))
    data = storage.data
    n = int(np.prod(size, dtype=np.int64)) if size else 1
    _check_view(size, stride, n, data.size)
    if n == 0:
        out = np.zeros(size, dtype=data.dtype)
    else:
        last = storage_offset + sum((s - 1) * st for s, st in zip(size, stride))
        if last >= data.size:
            raise ConvertError("tensor of size %s stride %s at offset %d reads past the end of its "
                               "storage (%d elements): truncated or corrupt archive"
                               % (list(size), list(stride), storage_offset, data.size))
        it = data.itemsize
        view = np.lib.stride_tricks.as_strided(data[storage_offset:], shape=size,
                                               strides=tuple(s * it for s in stride), writeable=False)
        out = np.array(view, copy=True)
    if storage.stype.bf16:
        out = (out.astype(np.uint32) << 16).view(np.float32)
    return out


def _check_view(size, stride, n, storage_elems):
    """A tensor is a view of its storage; one that reads some element twice
    (stride 0 or overlapping strides) would be copied to far more memory than
    the file holds: a 620-byte file can claim a 40000 x 40000 tensor."""
    if any(st == 0 and sz > 1 for sz, st in zip(size, stride)):
        raise ConvertError("tensor of size %s has stride %s: a broadcast (stride 0) view, which a checkpoint of "
                           "weights never holds" % (list(size), list(stride)))
    dims = sorted((abs(st), sz) for sz, st in zip(size, stride) if sz > 1)
    extent = 1
    for st, sz in dims:
        if st < extent:
            raise ConvertError("tensor of size %s stride %s overlaps itself (reads elements twice)"
                               % (list(size), list(stride)))
        extent = st * sz
    if n > storage_elems:
        raise ConvertError("tensor of size %s (%d elements) is larger than its storage (%d elements)"
                           % (list(size), n, storage_elems))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only what a state dict needs; everything else is refused."""

    def __init__(self, f, read_record, path):
        super().__init__(f)
        self.read_record = read_record
        self.path = path
        self.storages = {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch._utils" and name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            return _rebuild_parameter
        if module == "torch" and name in _STORAGES:
            return _StorageType(name)
        raise ConvertError("%s: the checkpoint's pickle needs %s.%s, which a state dict does not; "
                           "refusing to run it (save only the state dict, or install torch, whose "
                           "weights_only loader decides)" % (self.path, module, name))

    def persistent_load(self, pid):
        if (not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage"
                or not isinstance(pid[1], _StorageType) or not isinstance(pid[2], str)):
            raise ConvertError("%s: unsupported persistent record %r" % (self.path, pid[:3] if isinstance(pid, tuple) else pid))
        stype, key = pid[1], pid[2]
        if key in self.storages:
            return self.storages[key]
        raw = self.read_record("data/" + key)
        if len(raw) % stype.dtype.itemsize:
            raise ConvertError("%s: storage %s has %d bytes, not a multiple of %d (%s)"
                               % (self.path, key, len(raw), stype.dtype.itemsize, stype.name))
        st = _Storage(stype, np.frombuffer(raw, dtype=stype.dtype.newbyteorder(self.byteorder)))
        if self.byteorder == ">":
            st.data = st.data.astype(stype.dtype)
        self.storages[key] = st
        return st


def read_pth_pure(path):
    """Loads a torch.save zip archive without torch.  Returns the unpickled
    object with tensors as numpy arrays."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise ConvertError("%s: cannot read (%s)" % (path, e.strerror))
    if head != b"PK\x03\x04":
        if head[:2] == b"\x80\x02":
            raise ConvertError("%s: legacy torch.save format (torch < 1.6 or _use_new_zipfile_serialization="
                               "False); the torch-free reader handles the zip format only: install torch "
                               "(python3-torch) or re-save the checkpoint" % path)
        raise ConvertError("%s: not a PyTorch checkpoint (no zip archive signature)" % path)
    zf = _open_zip(path)
    with zf:
        pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkls) != 1:
            raise ConvertError("%s: zip archive has %d data.pkl records, expected 1: not a torch.save archive"
                               % (path, len(pkls)))
        prefix = pkls[0][:-len("data.pkl")]
        names = set(zf.namelist())

        def read_record(name):
            full = prefix + name
            if full not in names:
                raise ConvertError("%s: archive record %s is missing (truncated or corrupt archive)" % (path, full))
            try:
                return zf.read(full)   # checks the record's CRC
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
                raise ConvertError("%s: cannot read archive record %s (%s): truncated or corrupt archive"
                                   % (path, full, e))

        byteorder = "<"
        if prefix + "byteorder" in names:
            bo = read_record("byteorder").decode("ascii", "replace").strip()
            if bo not in ("little", "big"):
                raise ConvertError("%s: unknown byteorder record %r" % (path, bo))
            byteorder = "<" if bo == "little" else ">"
        import io
        up = _RestrictedUnpickler(io.BytesIO(read_record("data.pkl")), read_record, path)
        up.byteorder = byteorder
        try:
            return up.load()
        except ConvertError:
            raise
        except Exception as e:   # malformed pickle stream
            raise ConvertError("%s: cannot unpickle data.pkl (%s: %s)" % (path, type(e).__name__, e))


def _torch_available():
    try:
        import torch  # noqa: F401
        return True
    except Exception:
        return False


def _to_numpy_tree(obj, torch):
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        storage = t.untyped_storage().nbytes() // max(t.element_size(), 1) if hasattr(t, "untyped_storage") \
            else t.storage().size()
        _check_view(tuple(t.shape), tuple(t.stride()), t.numel(), storage - t.storage_offset())
        if t.dtype == torch.bfloat16:
            t = t.float()
        return t.numpy().copy()
    if isinstance(obj, dict):
        out = collections.OrderedDict()
        for k, v in obj.items():
            out[k] = _to_numpy_tree(v, torch)
        return out
    return obj


# torch.save stores its records uncompressed; a record may inflate to at most
# this much more than the whole file before the archive is refused as a bomb.
ZIP_MAX_INFLATE = 64 << 20


def _open_zip(path):
    """The archive, once its records' declared sizes are known to fit the
    file: a 6 MB file whose record inflates to 6 GiB is refused before any
    record is read."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ConvertError("%s: truncated or corrupt zip archive (%s)" % (path, e))
    size = os.path.getsize(path)
    total = sum(i.file_size for i in zf.infolist())
    if total > size + ZIP_MAX_INFLATE:
        big = max(zf.infolist(), key=lambda i: i.file_size)
        zf.close()
        raise ConvertError("%s: its records would inflate to %d bytes from a file of %d bytes (record %s: %d bytes); "
                           "more than %d MB beyond the file size is refused as a zip bomb (torch.save stores "
                           "records uncompressed)" % (path, total, size, big.filename, big.file_size,
                                                      ZIP_MAX_INFLATE >> 20))
    return zf


def _check_zip(path):
    """torch's zip reader does not check CRCs and reports truncation vaguely:
    check the archive first so that both readers refuse the same files with
    the same message."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                return
    except OSError as e:
        raise ConvertError("%s: cannot read (%s)" % (path, e.strerror))
    try:
        with _open_zip(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise ConvertError("%s: truncated or corrupt zip archive (%s)" % (path, e))
    if bad is not None:
        raise ConvertError("%s: corrupt zip archive: record %s fails its CRC check" % (path, bad))


def read_pth_torch(path):
    import inspect
    import torch
    _check_zip(path)
    kw = {"map_location": "cpu"}
    if "weights_only" in inspect.signature(torch.load).parameters:
        kw["weights_only"] = True
    try:
        obj = torch.load(path, **kw)
    except Exception as e:
        msg = str(e).strip().splitlines()
        msg = msg[0] if msg else type(e).__name__
        if kw.get("weights_only") and isinstance(e, pickle.UnpicklingError):
            # torch 1.13's weights_only unpickler lacks some plain opcodes
            # (e.g. BINFLOAT: any float in the checkpoint); the restricted
            # reader here is just as safe, so let it decide.
            try:
                return read_pth_pure(path)
            except ConvertError as e2:
                raise ConvertError("torch.load(weights_only=True) failed (%s); the restricted reader too: %s"
                                   % (msg[msg.rfind("error:") + 6:].strip() if "error:" in msg else msg, e2))
        raise ConvertError("%s: torch.load failed: %s" % (path, msg))
    return _to_numpy_tree(obj, torch)


def read_checkpoint(path, use_torch=None):
    """One checkpoint file -> OrderedDict key -> numpy array (the state dict:
    'state_dict' or 'model' entry when present, 'module.' prefix removed)."""
    if use_torch is None:
        use_torch = _torch_available()
    obj = read_pth_torch(path) if use_torch else read_pth_pure(path)
    if not isinstance(obj, dict):
        raise ConvertError("%s: holds a %s, not a dict (state dict or checkpoint)" % (path, type(obj).__name__))
    for k in ("state_dict", "model"):
        if isinstance(obj.get(k), dict):
            obj = obj[k]
            break
    sd = collections.OrderedDict()
    bad = []
    for k, v in obj.items():
        if not isinstance(k, str):
            bad.append(repr(k))
            continue
        if k.startswith("module."):
            k = k[len("module."):]
        if not isinstance(v, np.ndarray):
            bad.append("%s (a %s)" % (k, type(v).__name__))
            continue
        sd[k] = v
    if bad:
        raise ConvertError("%s: state dict entries that are not tensors: %s" % (path, ", ".join(bad)))
    if not sd:
        raise ConvertError("%s: empty state dict" % path)
    return sd


_EXPERT_RE = re.compile(r"^backbone\.blocks\.(\d+)\.mlp\.experts\.(htoh4|h4toh)\.(weight|bias)$")


def read_input(path, use_torch=None):
    """A checkpoint file or a directory of rank files -> merged state dict."""
    if not os.path.isdir(path):
        if not os.path.exists(path):
            raise ConvertError("%s: no such file or directory" % path)
        return read_checkpoint(path, use_torch)
    files = {}
    for n in os.listdir(path):
        m = re.match(r"^(\d+)\.pth$", n)
        if m:
            files[int(m.group(1))] = os.path.join(path, n)
    if not files:
        raise ConvertError("%s: directory has no rank files 0.pth, 1.pth, ..." % path)
    k = max(files) + 1
    missing = [str(r) for r in range(k) if r not in files]
    if missing:
        raise ConvertError("%s: rank files %s.pth missing (found %d of 0..%d)"
                           % (path, ".pth, ".join(missing), len(files), k - 1))
    sd = read_checkpoint(files[0], use_torch)
    expert_keys = [key for key in sd if _EXPERT_RE.match(key)]
    if k > 1 and not expert_keys:
        raise ConvertError("%s: has no expert tensors (mlp.experts.*), but rank files 1..%d exist" % (files[0], k - 1))
    parts = {key: [sd[key]] for key in expert_keys}
    for r in range(1, k):
        sr = read_checkpoint(files[r], use_torch)
        extra = [key for key in sr if not _EXPERT_RE.match(key)]
        if extra:
            raise ConvertError("%s: a rank file other than 0.pth may hold only expert tensors; it also has: %s"
                               % (files[r], ", ".join(extra)))
        absent = [key for key in expert_keys if key not in sr]
        unexpected = [key for key in sr if key not in parts]
        if absent or unexpected:
            msg = "%s: expert tensors do not match 0.pth's" % files[r]
            if absent:
                msg += "; missing experts: %s" % ", ".join(absent)
            if unexpected:
                msg += "; not in 0.pth: %s" % ", ".join(unexpected)
            raise ConvertError(msg)
        for key in expert_keys:
            a, b = parts[key][0], sr[key]
            if a.ndim != b.ndim or a.shape[1:] != b.shape[1:] or b.ndim < 1:
                raise ConvertError("%s: %s has shape %s, 0.pth has %s (only the expert dimension may differ)"
                                   % (files[r], key, list(b.shape), list(a.shape)))
            parts[key].append(b)
    for key in expert_keys:
        sd[key] = np.concatenate(parts[key], axis=0)
    return sd


# ====================================================================== conversion
_IGNORED_RE = re.compile(r"(\.num_batches_tracked|\.mlp\.gate\.([^.]+\.)?(w_noise|w_gate_aux|w_noise_aux))$")


def infer_config(sd, heads=None, top_k=2, image_size=None, ln_eps=1e-6, bn_eps=1e-5):
    """Config dict (em_config field names) from the shapes, plus the task ->
    gate-key-part map.  Raises ConvertError naming what is inconsistent."""
    def shape(key, ndim):
        if key not in sd:
            raise ConvertError("missing key %s (needed to infer the model config)" % key)
        s = sd[key].shape
        if len(s) != ndim:
            raise ConvertError("%s has shape %s, expected %d dimensions" % (key, list(s), ndim))
        return s

    D, img_c, P, P2 = shape("backbone.patch_embed.proj.weight", 4)
    if P != P2:
        raise ConvertError("backbone.patch_embed.proj.weight: non-square patch %dx%d" % (P, P2))
    _, N, D2 = shape("backbone.pos_embed", 3)
    if D2 != D:
        raise ConvertError("backbone.pos_embed has D = %d but the patch embedding has %d" % (D2, D))
    if image_size:
        img_h, img_w = image_size
        if img_h % P or img_w % P or (img_h // P) * (img_w // P) + 1 != N:
            raise ConvertError("--image-size %dx%d with patch %d gives %s tokens, but pos_embed has %d"
                               % (img_h, img_w, P, "%d" % ((img_h // P) * (img_w // P) + 1)
                                  if not (img_h % P or img_w % P) else "a non-integer number of", N))
    elif (128 // P) * (256 // P) + 1 == N and 128 % P == 0 and 256 % P == 0:
        img_h, img_w = 128, 256
    else:
        g = int(round((N - 1) ** 0.5))
        if N > 1 and g * g == N - 1:
            img_h = img_w = g * P
        else:
            raise ConvertError("cannot infer the image size from %d tokens (patch %d): pass --image-size HxW" % (N, P))

    blocks = collections.defaultdict(set)
    for key in sd:
        m = re.match(r"^backbone\.blocks\.(\d+)\.(.*)$", key)
        if m:
            blocks[int(m.group(1))].add(m.group(2))
    if not blocks:
        raise ConvertError("no backbone.blocks.* keys: not an M3ViT checkpoint")
    depth = max(blocks) + 1
    absent = [str(l) for l in range(depth) if l not in blocks]
    if absent:
        raise ConvertError("blocks %s are missing (depth %d from the highest block index)" % (", ".join(absent), depth))
    moe = [l for l in range(depth) if any(s.startswith("mlp.experts.") or s.startswith("mlp.gate.") for s in blocks[l])]
    dense = [l for l in range(depth) if any(s.startswith("mlp.fc") for s in blocks[l])]
    both = sorted(set(moe) & set(dense))
    if both:
        raise ConvertError("blocks %s have both a dense MLP (mlp.fc*) and experts" % both)
    if depth > 32:
        raise ConvertError("depth %d: edgemoe supports at most 32 blocks" % depth)
    neither = [l for l in range(depth) if l not in moe and l not in dense]
    if neither:
        raise ConvertError("blocks %s have neither a dense MLP (mlp.fc*) nor experts" % neither)
    if not moe:
        raise ConvertError("the model has no MoE block (depth %d)" % depth)

    head_dim = None
    if heads is None:
        if D % 64:
            raise ConvertError("D = %d is not a multiple of 64: pass --heads (not visible in the shapes)" % D)
        heads = D // 64
    if heads < 1 or D % heads:
        raise ConvertError("D = %d is not divisible by --heads %d" % (D, heads))
    head_dim = D // heads

    # mlp_hidden of the dense blocks (unused, but kept valid, when every block is MoE)
    H = shape("backbone.blocks.%d.mlp.fc1.weight" % dense[0], 2)[0] if dense else 4 * D
    l1 = moe[0]
    E, He, _ = shape("backbone.blocks.%d.mlp.experts.htoh4.weight" % l1, 3)
    if not 1 <= top_k <= E:
        raise ConvertError("--top-k %d out of range 1..%d (experts)" % (top_k, E))

    tasks = []
    for key in sd:
        m = re.match(r"^decoders\.([^.]+)\.", key)
        if m and m.group(1) not in tasks:
            tasks.append(m.group(1))
    if not tasks:
        raise ConvertError("no decoders.<task>.* keys: the checkpoint has no task heads")
    for t in tasks:
        if not re.match(r"^[A-Za-z0-9_]{1,31}$", t):
            raise ConvertError("task name %r: edgemoe needs 1..31 characters of [A-Za-z0-9_]" % t)
    if len(tasks) > 8:
        raise ConvertError("%d tasks; edgemoe supports at most 8" % len(tasks))
    chans = [shape("decoders.%s.conv_4.weight" % t, 4)[0] for t in tasks]
    hc = shape("decoders.%s.conv_0.weight" % tasks[0], 4)[0]

    # gates: gate.<index> or gate.<task name>
    gate_ids = []
    for key in sd:
        m = re.match(r"^backbone\.blocks\.%d\.mlp\.gate\.([^.]+)\.w_gate$" % l1, key)
        if m:
            gate_ids.append(m.group(1))
    if "backbone.blocks.%d.mlp.gate.w_gate" % l1 in sd and not gate_ids:
        gate_of = {t: None for t in tasks}     # one gate shared by every task (multi_gate=False)
    elif all(g.isdigit() for g in gate_ids) and gate_ids:
        gate_of = {t: str(i) for i, t in enumerate(tasks)}
    else:
        gate_of = {t: t for t in tasks}

    cfg = collections.OrderedDict(
        img_c=img_c, img_h=img_h, img_w=img_w, patch=P, grid_h=img_h // P, grid_w=img_w // P,
        n_tok=N, dim=D, depth=depth, n_heads=heads, head_dim=head_dim, mlp_hidden=H,
        n_experts=E, expert_hidden=He, top_k=top_k, n_tasks=len(tasks), head_ch=hc,
        task_name=tasks, task_channels=chans, ln_eps=ln_eps, bn_eps=bn_eps)
    # which blocks are MoE: a bit mask, written (as edgemoe does) only when it
    # is not the odd blocks
    mask = sum(1 << l for l in moe)
    if mask != MOE_ODD & ((1 << depth) - 1):
        cfg["moe_layers"] = mask
    return cfg, gate_of


MOE_ODD = 0xAAAAAAAA   # em_config's default: the odd blocks are MoE


def is_moe(cfg, l):
    """Block l is MoE (em_is_moe)."""
    return cfg.get("moe_layers", MOE_ODD) >> l & 1 == 1


def _gate_key(g):
    return "mlp.gate.w_gate" if g is None else "mlp.gate.%s.w_gate" % g


def expected_keys(cfg, gate_of):
    """torch key -> expected shape, in edgemoe's tensor order."""
    D, E, He, H, hc = cfg["dim"], cfg["n_experts"], cfg["expert_hidden"], cfg["mlp_hidden"], cfg["head_ch"]
    P = cfg["patch"]
    ex = collections.OrderedDict()
    ex["backbone.patch_embed.proj.weight"] = (D, cfg["img_c"], P, P)
    ex["backbone.patch_embed.proj.bias"] = (D,)
    ex["backbone.cls_token"] = (1, 1, D)
    ex["backbone.pos_embed"] = (1, cfg["n_tok"], D)
    for l in range(cfg["depth"]):
        b = "backbone.blocks.%d." % l
        for n in ("norm1", "norm2"):
            ex[b + n + ".weight"] = (D,)
            ex[b + n + ".bias"] = (D,)
        ex[b + "attn.qkv.weight"] = (3 * D, D)
        ex[b + "attn.qkv.bias"] = (3 * D,)
        ex[b + "attn.proj.weight"] = (D, D)
        ex[b + "attn.proj.bias"] = (D,)
        if is_moe(cfg, l):
            ex[b + "mlp.experts.htoh4.weight"] = (E, He, D)
            ex[b + "mlp.experts.htoh4.bias"] = (E, He)
            ex[b + "mlp.experts.h4toh.weight"] = (E, D, He)
            ex[b + "mlp.experts.h4toh.bias"] = (E, D)
            for t in cfg["task_name"]:
                ex[b + _gate_key(gate_of[t])] = (D, E)
        else:
            ex[b + "mlp.fc1.weight"] = (H, D)
            ex[b + "mlp.fc1.bias"] = (H,)
            ex[b + "mlp.fc2.weight"] = (D, H)
            ex[b + "mlp.fc2.bias"] = (D,)
    for t, C in zip(cfg["task_name"], cfg["task_channels"]):
        b = "decoders.%s." % t
        ex[b + "norm.weight"] = (D,)
        ex[b + "norm.bias"] = (D,)
        for i in range(4):
            ex[b + "conv_%d.weight" % i] = (hc, D if i == 0 else hc, 3, 3)
            ex[b + "conv_%d.bias" % i] = (hc,)
            for f in ("weight", "bias", "running_mean", "running_var"):
                ex[b + "syncbn_fc_%d.%s" % (i, f)] = (hc,)
        ex[b + "conv_4.weight"] = (C, hc, 1, 1)
        ex[b + "conv_4.bias"] = (C,)
    return ex


def _short_list(items, n=12):
    items = list(items)
    s = ", ".join(items[:n])
    return s + (", ... (%d more)" % (len(items) - n) if len(items) > n else "")


def convert_state_dict(sd, **opts):
    """State dict (numpy) -> (config dict, OrderedDict edgemoe name -> float32 array, ignored keys)."""
    cfg, gate_of = infer_config(sd, **opts)
    ex = expected_keys(cfg, gate_of)
    ignored = [k for k in sd if k not in ex and _IGNORED_RE.search(k)]
    unknown = [k for k in sd if k not in ex and k not in ignored]
    missing = [k for k in ex if k not in sd]
    problems = []
    if missing:
        problems.append("missing keys (%d): %s" % (len(missing), _short_list(missing)))
    if unknown:
        problems.append("unknown keys (%d): %s" % (len(unknown), _short_list(unknown)))
    if problems:
        raise ConvertError("state dict does not match the M3ViT layout of the inferred config "
                           "(D=%d, depth=%d, E=%d, tasks %s): %s"
                           % (cfg["dim"], cfg["depth"], cfg["n_experts"], ",".join(cfg["task_name"]),
                              "; ".join(problems)))
    wrong = ["%s %s (expected %s)" % (k, list(sd[k].shape), list(s)) for k, s in ex.items()
             if tuple(sd[k].shape) != tuple(s)]
    if wrong:
        raise ConvertError("wrong shapes (%d): %s" % (len(wrong), _short_list(wrong, 8)))
    notfloat = [k for k in ex if sd[k].dtype.kind != "f"]
    if notfloat:
        raise ConvertError("tensors that are not floating point: %s" % _short_list(
            "%s (%s)" % (k, sd[k].dtype) for k in notfloat))
    f32 = {k: np.ascontiguousarray(sd[k], dtype=np.float32) for k in ex}
    nonfinite = [k for k, a in f32.items() if not np.all(np.isfinite(a))]
    if nonfinite:
        raise ConvertError("tensors with NaN or Inf values (or out of float32 range): %s" % _short_list(nonfinite))

    out = collections.OrderedDict()
    out["patch_embed_weight"] = f32["backbone.patch_embed.proj.weight"]
    out["patch_embed_bias"] = f32["backbone.patch_embed.proj.bias"]
    pos = f32["backbone.pos_embed"][0].copy()
    pos[0] += f32["backbone.cls_token"][0, 0]
    out["pos_embed"] = pos
    for l in range(cfg["depth"]):
        b, s = "backbone.blocks.%d." % l, "l%d_" % l
        for n in ("norm1", "norm2"):
            out[s + n + "_weight"] = f32[b + n + ".weight"]
            out[s + n + "_bias"] = f32[b + n + ".bias"]
        out[s + "qkv_weight"] = f32[b + "attn.qkv.weight"]
        out[s + "qkv_bias"] = f32[b + "attn.qkv.bias"]
        out[s + "attn_proj_weight"] = f32[b + "attn.proj.weight"]
        out[s + "attn_proj_bias"] = f32[b + "attn.proj.bias"]
        if is_moe(cfg, l):
            for t, name in enumerate(cfg["task_name"]):
                out[s + "w_gate_T_task%d" % t] = np.ascontiguousarray(f32[b + _gate_key(gate_of[name])].T)
            for n in ("htoh4", "h4toh"):
                out[s + n + "_weight"] = f32[b + "mlp.experts.%s.weight" % n]
                out[s + n + "_bias"] = f32[b + "mlp.experts.%s.bias" % n]
        else:
            for n in ("fc1", "fc2"):
                out[s + n + "_weight"] = f32[b + "mlp.%s.weight" % n]
                out[s + n + "_bias"] = f32[b + "mlp.%s.bias" % n]
    for t in cfg["task_name"]:
        b, s = "decoders.%s." % t, "head_%s_" % t
        out[s + "norm_weight"] = f32[b + "norm.weight"]
        out[s + "norm_bias"] = f32[b + "norm.bias"]
        for i in range(5):
            out[s + "conv%d_weight" % i] = f32[b + "conv_%d.weight" % i]
            out[s + "conv%d_bias" % i] = f32[b + "conv_%d.bias" % i]
            if i < 4:
                for f in ("weight", "bias", "running_mean", "running_var"):
                    out[s + "bn%d_%s" % (i, f)] = f32[b + "syncbn_fc_%d.%s" % (i, f)]
    return cfg, out, ignored


_ST_DTYPES = {"F32": "<f4", "F16": "<f2"}


def write_safetensors(path, tensors, metadata, dtype="F32"):
    """Writes the tensors (in the given order) as dtype (F32 or F16, rounded
    to nearest) atomically: a temporary file in the same directory, renamed
    into place when complete."""
    np_dtype = _ST_DTYPES[dtype]
    size = np.dtype(np_dtype).itemsize
    header = collections.OrderedDict()
    header["__metadata__"] = metadata
    off = 0
    for name, a in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [off, off + a.size * size]}
        off += a.size * size
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((8 - len(hj) % 8) % 8)
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=d)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(hj)))
            f.write(hj)
            for a in tensors.values():
                f.write(np.ascontiguousarray(a, dtype=np_dtype).tobytes())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def convert(input_path, output_path, use_torch=None, **opts):
    sd = read_input(input_path, use_torch)
    cfg, tensors, ignored = convert_state_dict(sd, **opts)
    meta = collections.OrderedDict()
    meta["format"] = "edgemoe"
    meta["edgemoe.config"] = json.dumps(cfg, separators=(",", ":"))
    try:
        write_safetensors(output_path, tensors, meta)
    except OSError as e:
        raise ConvertError("%s: cannot write (%s)" % (output_path, e.strerror or e))
    return cfg, tensors, ignored


def _image_size(s):
    m = re.match(r"^(\d+)x(\d+)$", s)
    if not m:
        raise argparse.ArgumentTypeError("expected HxW, e.g. 128x256")
    return int(m.group(1)), int(m.group(2))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="m3vit_convert.py",
                                 description="Convert an M3ViT PyTorch checkpoint (file or directory of "
                                             "rank files 0.pth..K-1.pth) to an edgemoe .safetensors file.")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--no-torch", action="store_true", help="use the torch-free .pth reader even if torch is installed")
    ap.add_argument("--heads", type=int, help="attention heads (default D/64)")
    ap.add_argument("--top-k", type=int, default=2, help="experts per token (default 2)")
    ap.add_argument("--image-size", type=_image_size, help="HxW (default 128x256 when it fits the token count)")
    ap.add_argument("--ln-eps", type=float, default=1e-6)
    ap.add_argument("--bn-eps", type=float, default=1e-5)
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    use_torch = False if a.no_torch else None
    try:
        cfg, tensors, ignored = convert(a.input, a.output, use_torch, heads=a.heads, top_k=a.top_k,
                                        image_size=a.image_size, ln_eps=a.ln_eps, bn_eps=a.bn_eps)
    except ConvertError as e:
        print("m3vit_convert: error: %s" % e, file=sys.stderr)
        return 1
    if not a.quiet:
        nbytes = sum(t.size * 4 for t in tensors.values())
        print("%s -> %s: %d tensors, %.1f MB; D=%d depth=%d heads=%d mlp=%d experts=%d x %d top-%d "
              "image %dx%d patch %d; tasks %s; head %d ch%s"
              % (a.input, a.output, len(tensors), nbytes / 1e6, cfg["dim"], cfg["depth"], cfg["n_heads"],
                 cfg["mlp_hidden"], cfg["n_experts"], cfg["expert_hidden"], cfg["top_k"], cfg["img_h"],
                 cfg["img_w"], cfg["patch"],
                 ", ".join("%s(%d)" % tc for tc in zip(cfg["task_name"], cfg["task_channels"])),
                 cfg["head_ch"], "; ignored %d training-only tensors" % len(ignored) if ignored else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
