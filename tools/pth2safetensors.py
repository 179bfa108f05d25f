#!/usr/bin/python3
"""pth2safetensors: convert a PyTorch state dict (.pth) to safetensors for netc.

Usage: python3 tools/pth2safetensors.py [--list] [--trust-pickle] CHECKPOINT.pth [OUT.safetensors]

  python3 tools/pth2safetensors.py alexnet-owt-7be5be79.pth
      writes alexnet-owt-7be5be79.safetensors beside it
  python3 tools/pth2safetensors.py --list alexnet-owt-7be5be79.pth
      prints each tensor's name, dtype and shape, and writes nothing

Tensor names are kept exactly (netc loads weights by layer name, torchvision
style: features.0.weight). Floating-point tensors are written as contiguous
F32; integer and bool tensors (BatchNorm's num_batches_tracked) keep their own
type. A checkpoint that wraps its state dict ({"state_dict": ...} or
{"model": ...}) is unwrapped. The file is read with torch.load(weights_only=True),
so a hostile checkpoint cannot run code; --trust-pickle lifts that for a file
you trust that holds other Python values too. The format (8-byte little-endian header length,
JSON header padded with spaces to 8 bytes, raw little-endian data, larger
elements first and then by name) is written here with json + struct, the same
layout runtime/safetensors.c writes, and atomically: a temporary file, fsync,
rename.
"""
import argparse
import json
import os
import struct
import sys

MAX_HEADER = 100_000_000  # what readers (ours and the reference) accept


class ConvertError(Exception):
    """A problem with the user's file: printed as one message, not a traceback."""


def load_state_dict(path, trust_pickle=False):
    import torch  # imported late so --help works without torch

    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file")
    # A checkpoint is a pickle, and a hostile pickle runs code: by default only
    # torch's restricted unpickler (weights_only) reads it. Note that torch 1.13's
    # also refuses plain floats, e.g. {"epoch": 90, "best_acc1": 56.5, "state_dict": ...}.
    # (Passing our own restricted pickle_module is no way out: torch 1.13 ignores
    # pickle_module unless weights_only is set, and then forbids it.)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as e:  # torch reports damage as anything from KeyError to RuntimeError
        why = str(e).split("WeightsUnpickler error: ")[-1].strip()
        trust = "or, for a file you trust, add --trust-pickle"
        if "Unsupported class" in why:
            raise ConvertError(f"{path}: holds a {why.split()[-1]}, not only tensors\n  HINT: if it is a whole "
                               f"pickled model, save its state dict: torch.save(model.state_dict(), 'model.pth'); {trust}")
        if "Unsupported operand" in why:
            raise ConvertError(f"{path}: holds values besides tensors, which torch {torch.__version__}'s safe loader "
                               f"refuses ({why}; it refuses even floats)\n  HINT: save only the state dict; {trust}")
        raise ConvertError(f"{path}: not a PyTorch checkpoint, or a damaged one ({type(e).__name__}: {why[:200]})\n"
                           "  HINT: fetch or save the file again")
    return find_tensors(path, obj, torch)


def find_tensors(path, obj, torch):
    """The {name: tensor} dict in obj, unwrapping {"state_dict": ...} and the like."""
    def is_state_dict(d):
        return isinstance(d, dict) and d and all(isinstance(v, torch.Tensor) for v in d.values())

    if is_state_dict(obj):
        return obj
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if is_state_dict(obj.get(key)):
                print(f"note: using {path}['{key}']", file=sys.stderr)
                return obj[key]
        if not obj:
            raise ConvertError(f"{path}: is an empty dict; there are no tensors to convert")
        odd = [f"{k!r} ({type(v).__name__})" for k, v in obj.items() if not isinstance(v, torch.Tensor)]
        raise ConvertError(f"{path}: is not a state dict: {', '.join(odd[:5])}{' ...' if len(odd) > 5 else ''} "
                           "are not tensors\n  HINT: save model.state_dict(), a dict of name -> tensor")
    raise ConvertError(f"{path}: is not a state dict but a {type(obj).__name__}\n"
                       "  HINT: save model.state_dict(), a dict of name -> tensor")


def to_safetensors_dtype(path, name, t, torch):
    """(dtype string, numpy array in that dtype, little-endian, C order)."""
    ints = {torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
            torch.uint8: "U8", torch.bool: "BOOL"}
    t = t.detach().cpu()
    if t.is_floating_point():
        dtype, t = "F32", t.to(torch.float32)
    elif t.dtype in ints:
        dtype = ints[t.dtype]
    else:
        raise ConvertError(f"{path}: tensor '{name}' is {t.dtype}, which netc cannot use\n"
                           "  HINT: convert it to a real floating-point tensor before saving")
    a = t.contiguous().numpy()
    return dtype, a.astype(a.dtype.newbyteorder("<"), copy=False)


def build(path, tensors, torch):
    """The header bytes and the arrays in file order."""
    items = []
    for name, t in tensors.items():
        if not isinstance(name, str):
            raise ConvertError(f"{path}: tensor name {name!r} is not a string")
        dtype, a = to_safetensors_dtype(path, name, t, torch)
        items.append((name, dtype, a))
    # Larger elements first, then by name (as the reference writer does): every
    # tensor then starts at a multiple of its element size.
    items.sort(key=lambda it: (-it[2].itemsize, it[0].encode("utf-8")))
    header, at = {}, 0
    for name, dtype, a in items:
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [at, at + a.nbytes]}
        at += a.nbytes
    return header, [a for _, _, a in items]


def write_atomic(out, meta, header, arrays):
    text = json.dumps({"__metadata__": meta, **header}, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    if len(text) > MAX_HEADER:
        raise ConvertError(f"{out}: the header would be {len(text)} bytes, more than readers accept")
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        raise ConvertError(f"{out}: the folder {folder} does not exist\n  HINT: create it first (mkdir -p {folder})")
    tmp = f"{out}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for a in arrays:
                f.write(a.tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise ConvertError(f"{out}: writing failed: {e.strerror}\n  HINT: is the disk full? any previous {out} is untouched")
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fd = os.open(folder, os.O_RDONLY)  # make the rename itself durable
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_tensors(tensors):
    total = 0
    width = max(len(k) for k in tensors)
    for name, t in tensors.items():
        print(f"{name:<{width}}  {str(t.dtype).replace('torch.', ''):<8}  {list(t.shape)}")
        total += t.numel()
    print(f"{len(tensors)} tensors, {total:,} values")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Convert a PyTorch state dict (.pth) to safetensors for netc.",
                                 usage="python3 tools/pth2safetensors.py [--list] [--trust-pickle] CHECKPOINT.pth [OUT.safetensors]")
    ap.add_argument("checkpoint", help="a .pth/.pt file holding a state dict (torchvision layout)")
    ap.add_argument("out", nargs="?", help="output file (default: CHECKPOINT with .safetensors)")
    ap.add_argument("--list", action="store_true", help="print names, dtypes and shapes; write nothing")
    ap.add_argument("--trust-pickle", action="store_true",
                    help="unpickle without restrictions (runs any code the file holds: only for files you trust)")
    args = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print(f"pth2safetensors: error: PyTorch is not installed for {sys.executable}\n"
              "  HINT: run it with /usr/bin/python3 (Debian: apt-get install python3-torch)",
              file=sys.stderr)
        return 1
    try:
        tensors = load_state_dict(args.checkpoint, args.trust_pickle)
        if args.list:
            list_tensors(tensors)
            return 0
        out = args.out or os.path.splitext(args.checkpoint)[0] + ".safetensors"
        if os.path.abspath(out) == os.path.abspath(args.checkpoint):
            raise ConvertError(f"{out}: the output would overwrite the checkpoint; name another output file")
        header, arrays = build(args.checkpoint, tensors, torch)
        meta = {"format": "pt", "source": os.path.basename(args.checkpoint)}
        write_atomic(out, meta, header, arrays)
    except ConvertError as e:
        print(f"pth2safetensors: error: {e}", file=sys.stderr)
        return 1
    nbytes = sum(a.nbytes for a in arrays)
    print(f"wrote {out}: {len(arrays)} tensors, {nbytes / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
