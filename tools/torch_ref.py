#!/usr/bin/python3
"""torch_ref.py: PyTorch's answer for a .net file, as a small reference file.

    /usr/bin/python3 tools/torch_ref.py NET.net [-o tests/ref/NAME.safetensors]
        [--batch 4] [--seed 1234] [--step 7] [--sample K] [--torchvision alexnet|squeezenet1_0|resnet18]

It asks `bin/netc --report=json` for every layer and its hyperparameters,
builds the same network in PyTorch, fills it with the portable weights and
inputs of tools/portable_init.py (the numbers tests/portable_init.h makes in
C), and runs one training step's worth of work:

  1. forward in training mode: batch norm with batch statistics, running
     statistics updated as PyTorch does (momentum 0.1, unbiased variance);
     dropout with netc's own masks (below);
  2. backward of the mean cross-entropy (with the .net file's label smoothing);
  3. forward in evaluation mode, with the updated running statistics.

It writes the logits, probabilities and loss, every trainable tensor's
gradient under our names ("grad.conv1.weight"), the updated running
statistics ("state.bn1.running_mean") and the evaluation logits.
tests/test_torchref.c runs the generated code on the same numbers and
compares. PyTorch computes in float64, so the reference is the exact answer
for the float32 weights and inputs, and the differences measure netc alone.

--sample K: a gradient with more than K elements is written as K entries at
indices drawn from the portable stream PI_SAMPLE (the C test draws the same
ones; their sum is stored as a check) plus the tensor's L2 norm. That keeps
AlexNet's and SqueezeNet's references small.

--torchvision MODEL: instead of the generic graph, torchvision's own
alexnet(num_classes=15), squeezenet1_0(num_classes=15) or resnet18 (1,000
classes), with tensors mapped through the report's `load` names (the new
classifier, which loads nothing, maps to classifier.6 / classifier.1). This shows the .net file describes
torchvision's network, not just something netc and this script agree on.

Tolerance: 1e-4 of each tensor's largest magnitude, for everything. One
exception, --grad-tol 2e-2 for SqueezeNet's gradients at 227x227: its 2 x 5M
relu and max pool decisions are taken on float32 values here and float64
values in PyTorch, and the few that fall within rounding of a kink (a relu
input within 1e-7 of zero, two window values within 1e-7 of each other) send
their share of the gradient elsewhere. Those shares add up layer by layer to
about 1% in the first layers' gradients (the last layers stay near 1e-6, and
the logits, loss and evaluation logits at 1e-4 as everywhere else). AlexNet
has far fewer such decisions and passes at 1e-4.

ResNet-18 at 224x224 is the extreme case: 4.6M relu decisions per 2 images,
each followed by a batch norm whose statistics at layer4 cover 2 x 7 x 7
values per channel, so one decision taken the other way moves its channel's
sums by about 1% and that spreads to every gradient below it. On the same
weights and inputs PyTorch's own float32 backward differs from its float64 one
by 4.7e-2 of a tensor's largest entry and 6.7e-3 in relative L2; netc's by
3.0e-2 and 7.2e-3 (over seeds 1-9 and 1234, netc's worst entry ranged from
9.7e-3 to 6.5e-2 and its worst relative L2 from 2.9e-3 to 1.4e-2, so a bound
on single entries would pass or fail with the seed and the CPU's rounding).
--grad-metric l2 --grad-tol 5e-2 measures its gradients by their relative L2
distance, 3.5 times the worst seen; everything else (logits, loss, running
statistics, evaluation) stays at 1e-4 per entry, and the small test nets
check every layer kind's backward at 1e-4.

Dropout: netc's masks come from rng_for(seed, step, layer << 32 | image),
one rng_uniform() per element, kept where u >= p, and kept values scaled by
1/(1-p). PyTorch's own dropout draws from its own generator, and no choice of
seed makes those masks equal, so comparing with nn.Dropout could only work
with p = 0, which would test nothing. Both the generic graph and the
torchvision models (whose Dropout modules are replaced) therefore apply
netc's mask, recomputed here in numpy: the comparison then checks the mask
stream, where the mask is applied, the scaling and the backward.
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import portable_init as pi  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torchvision models: constructor and the name of the one layer that loads nothing
TORCHVISION = {
    "alexnet": ("alexnet", {"fc8": "classifier.6"}),
    "squeezenet1_0": ("squeezenet1_0", {"conv10": "classifier.1"}),
    "resnet18": ("resnet18", {}),
}


def fail(msg):
    sys.exit(f"torch_ref.py: {msg}")


# ---- the net, from netc's JSON report ------------------------------------------------

def report(netc, path):
    try:
        out = subprocess.run([netc, "--report=json", path], check=True, capture_output=True, text=True).stdout
    except FileNotFoundError:
        fail(f"{netc} not found\n  HINT: run make first")
    except subprocess.CalledProcessError as e:
        fail(f"netc rejected {path}:\n{e.stderr}")
    return json.loads(out)


def label_smoothing(path):
    """The train { label_smoothing X } setting. The JSON report carries layers,
    not settings; the C side reads the same value from the generated table."""
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*label_smoothing\s+([0-9.eE+-]+)", line.split("#")[0])
            if m:
                return float(np.float32(float(m.group(1))))
    return 0.0


def in_shape(net, layer):
    """[c, h, w] of a layer's first input"""
    w, h, c = net["by_name"][layer["inputs"][0]]["size"]
    return c, h, w


def tensors(net):
    """Every tensor, in the generated table's order: (name, layer, role, shape, fan_in, trainable)."""
    out = []
    for l in net["layers"]:
        k, name, tr = l["kind"], l["name"], not l["frozen"]
        if k == "conv":
            c, _, _ = in_shape(net, l)
            kw, kh = l["kernel"]
            cg = c // l["groups"]
            fan_in = cg * kh * kw
            out.append((name + ".weight", l, "weight", [l["out"], cg, kh, kw], fan_in, tr))
            if l["bias"]:
                out.append((name + ".bias", l, "bias", [l["out"]], fan_in, tr))
        elif k == "linear":
            c, h, w = in_shape(net, l)
            out.append((name + ".weight", l, "weight", [l["out"], c * h * w], c * h * w, tr))
            if l["bias"]:
                out.append((name + ".bias", l, "bias", [l["out"]], c * h * w, tr))
        elif k == "batchnorm":
            c, _, _ = in_shape(net, l)
            out.append((name + ".weight", l, "bn_weight", [c], 1, tr))
            out.append((name + ".bias", l, "bn_bias", [c], 1, tr))
            out.append((name + ".running_mean", l, "running_mean", [c], 1, False))
            out.append((name + ".running_var", l, "running_var", [c], 1, False))
    return out


# ---- dropout with netc's masks ----------------------------------------------------------

def netc_mask(layer_index, p, n, per_image, seed, step):
    """[n][per_image] float64 multipliers: mask * float(1 / (1 - p)), as the generated code."""
    p32 = np.float32(p)
    scale = float(np.float32(1.0 / (1.0 - float(p32))))
    rows = []
    for b in range(n):
        u = pi.uniform(pi.rng_for(seed, step, (layer_index << 32) | b), per_image)
        rows.append((u >= p32).astype(np.float64) * scale)
    return np.stack(rows)


class NetcDropout(torch.nn.Module):
    """A torchvision Dropout replaced by netc's mask for layer `index`."""

    def __init__(self, index, p, seed, step):
        super().__init__()
        self.index, self.p, self.seed, self.step = index, p, seed, step

    def forward(self, x):
        if not self.training:
            return x
        n = x.shape[0]
        mask = netc_mask(self.index, self.p, n, x[0].numel(), self.seed, self.step)
        return x * torch.from_numpy(mask).reshape(x.shape)


# ---- the generic graph -------------------------------------------------------------------

def forward_generic(net, params, x, train, seed, step):
    """Every layer of the report with torch.nn.functional; returns the logits [n][classes]."""
    n = x.shape[0]
    acts = {}
    for i, l in enumerate(net["layers"]):
        k, name = l["kind"], l["name"]
        ins = [acts[s] for s in l["inputs"]]
        P = lambda suffix: params.get(f"{name}.{suffix}")  # noqa: E731
        if k == "input":
            y = x
        elif k == "conv":
            kw, kh = l["kernel"]
            sw, sh = l["stride"]
            pw, ph = l["pad"]
            y = F.conv2d(ins[0], P("weight"), P("bias"), stride=(sh, sw), padding=(ph, pw), groups=l["groups"])
        elif k == "linear":
            y = F.linear(ins[0].reshape(n, -1), P("weight"), P("bias")).reshape(n, -1, 1, 1)
        elif k == "maxpool":
            if l["global"]:
                y = F.adaptive_max_pool2d(ins[0], 1)
            else:
                kw, kh = l["kernel"]
                sw, sh = l["stride"]
                pw, ph = l["pad"]
                y = F.max_pool2d(ins[0], (kh, kw), (sh, sw), (ph, pw), ceil_mode=l["ceil"])
        elif k == "avgpool":
            if l["global"]:
                y = ins[0].mean(dim=(2, 3), keepdim=True)
            else:
                kw, kh = l["kernel"]
                sw, sh = l["stride"]
                pw, ph = l["pad"]
                y = F.avg_pool2d(ins[0], (kh, kw), (sh, sw), (ph, pw), ceil_mode=l["ceil"], count_include_pad=True)
        elif k == "relu":
            y = F.leaky_relu(ins[0], l["slope"]) if l["slope"] else F.relu(ins[0])
        elif k == "resize":
            w, h, _ = l["size"]
            y = F.interpolate(ins[0], size=(h, w), mode="bilinear", align_corners=False)
        elif k == "lrn":
            y = F.local_response_norm(ins[0], l["window"], alpha=l["alpha"], beta=l["beta"], k=l["k"])
        elif k == "dropout":
            if train:
                mask = netc_mask(i, l["p"], n, ins[0][0].numel(), seed, step)
                y = ins[0] * torch.from_numpy(mask).reshape(ins[0].shape)
            else:
                y = ins[0]
        elif k == "batchnorm":
            y = F.batch_norm(ins[0], P("running_mean"), P("running_var"), P("weight"), P("bias"), training=train,
                             momentum=0.1, eps=l["eps"])
        elif k == "flatten":
            y = ins[0].reshape(n, -1, 1, 1)
        elif k == "concat":
            y = torch.cat(ins, dim=1)
        elif k == "add":
            y = ins[0]
            for t in ins[1:]:
                y = y + t
        elif k == "softmax":
            if l["inputs"][0] != net["layers"][i - 1]["name"]:
                fail(f"{name} reads {l['inputs'][0]}; the C test takes the logits from the layer before the loss")
            return ins[0].reshape(n, -1)
        else:
            fail(f"layer {name}: kind {k} is not known to this script")
        w, h, c = l["size"]
        if tuple(y.shape[1:]) != (c, h, w):
            fail(f"layer {name}: PyTorch makes {tuple(y.shape[1:])}, netc says {(c, h, w)}")
        acts[name] = y
    fail("the net has no softmax layer")


# ---- torchvision's models ----------------------------------------------------------------

def torchvision_model(net, which, params, seed, step):
    import torchvision

    ctor, new_layers = TORCHVISION[which]
    model = getattr(torchvision.models, ctor)(num_classes=net["classes"]).double()
    names = {}  # our tensor name -> torchvision's
    for l in net["layers"]:
        prefix = l["load"] or new_layers.get(l["name"])
        if l["kind"] in ("conv", "linear", "batchnorm"):
            if not prefix:
                fail(f"layer {l['name']} has no load name and no torchvision name in TORCHVISION")
            for suffix in ("weight", "bias", "running_mean", "running_var"):
                if f"{l['name']}.{suffix}" in params:
                    names[f"{l['name']}.{suffix}"] = f"{prefix}.{suffix}"
    state = model.state_dict()
    # batch norms' num_batches_tracked only counts steps (used when momentum is None; netc's is fixed)
    counters = {k: v for k, v in state.items() if k.endswith("num_batches_tracked")}
    missing = set(state) - set(names.values()) - set(counters)
    if missing:
        fail(f"torchvision's {which} has tensors the .net file does not: {sorted(missing)}")
    with torch.no_grad():
        for ours, theirs in names.items():
            if tuple(state[theirs].shape) != tuple(params[ours].shape):
                fail(f"{ours} is {tuple(params[ours].shape)}, torchvision's {theirs} is {tuple(state[theirs].shape)}")
    model.load_state_dict({**counters, **{names_t: params[ours].detach().clone() for ours, names_t in names.items()}}, strict=True)
    tvp = dict(model.named_parameters())
    for ours, theirs in names.items():
        if theirs in tvp:
            tvp[theirs].requires_grad_(params[ours].requires_grad)  # frozen stays frozen
    # torchvision's Dropout modules, in order, are the .net file's dropout layers, in order
    drops = [(i, l) for i, l in enumerate(net["layers"]) if l["kind"] == "dropout"]
    holders = [(mod, key) for mod in model.modules() for key, sub in mod.named_children() if isinstance(sub, torch.nn.Dropout)]
    if len(holders) != len(drops):
        fail(f"torchvision's {which} has {len(holders)} dropout layers, the .net file {len(drops)}")
    for (mod, key), (i, l) in zip(holders, drops):
        if abs(getattr(mod, key).p - l["p"]) > 1e-6:
            fail(f"dropout {l['name']}: p {l['p']} but torchvision's is {getattr(mod, key).p}")
        setattr(mod, key, NetcDropout(i, l["p"], seed, step))
    return model, names


# ---- safetensors, written by hand (no safetensors package needed) --------------------------

def write_safetensors(path, arrays, meta):
    header = {"__metadata__": meta}
    blobs, offset = [], 0
    dtypes = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.int64): "I64", np.dtype(np.float64): "F64"}
    for name, a in arrays.items():
        a = np.ascontiguousarray(a)
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtypes[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"))
    text += " " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---- the run ---------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("net")
    ap.add_argument("-o", "--output")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--step", type=int, default=7)
    ap.add_argument("--sample", type=int, default=0, help="sample gradients with more than K elements (0: never)")
    ap.add_argument("--torchvision", choices=sorted(TORCHVISION))
    ap.add_argument("--gain", type=float, default=1.0,
                    help="weight bound gain / sqrt(fan_in); sqrt(6) keeps deep relu nets' gradients from vanishing")
    ap.add_argument("--grad-tol", type=float, default=1e-4,
                    help="the C test's bound for gradients (SqueezeNet at 227x227 needs more: see the README of this script)")
    ap.add_argument("--grad-metric", choices=("max", "l2"), default="max",
                    help="how the C test measures gradients: the largest entry's error (max) or relative L2 (ResNet-18, see above)")
    ap.add_argument("--netc", default=os.environ.get("NETC_BIN") or os.path.join(ROOT, "bin", "netc"))
    a = ap.parse_args()

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    net = report(a.netc, a.net)
    net["by_name"] = {l["name"]: l for l in net["layers"]}
    out = a.output or os.path.join(ROOT, "tests", "ref", net["net"] + ".safetensors")
    n, seed, step = a.batch, a.seed, a.step
    smoothing = label_smoothing(a.net)
    w, h, c = net["input"]
    classes = net["classes"]

    # the portable numbers, then float64 for the reference computation
    params = {}
    for name, l, role, shape, fan_in, trainable in tensors(net):
        v = torch.from_numpy(pi.init_tensor(name, role, shape, fan_in, seed, a.gain).astype(np.float64))
        params[name] = v.requires_grad_(trainable)
    x32 = pi.init_input(n, c, h, w, seed)
    labels = pi.init_labels(n, classes, seed)
    x = torch.from_numpy(x32.astype(np.float64))
    y = torch.from_numpy(labels)

    if a.torchvision:
        model, tv_names = torchvision_model(net, a.torchvision, params, seed, step)
        tvp = dict(model.named_parameters())
        tvb = dict(model.named_buffers())
        model.train()
        logits = model(x)
    else:
        logits = forward_generic(net, params, x, True, seed, step)
    loss = F.cross_entropy(logits, y, label_smoothing=smoothing)
    loss.backward()
    with torch.no_grad():
        if a.torchvision:
            model.eval()
            eval_logits = model(x)
        else:
            eval_logits = forward_generic(net, params, x, False, seed, step)

    f32 = lambda t: t.detach().numpy().astype(np.float32)  # noqa: E731
    arrays = {
        "logits": f32(logits),
        "probs": f32(torch.softmax(logits, dim=1)),
        "loss": np.array([loss.item()], dtype=np.float32),
        "eval.logits": f32(eval_logits),
        "check.input": x32.ravel()[:16].copy(),
        "check.labels": labels.astype(np.int32),
    }
    sums = []
    for name, l, role, shape, fan_in, trainable in tensors(net):
        sums.append(float(pi.init_tensor(name, role, shape, fan_in, seed, a.gain).astype(np.float64).sum()))
        if a.torchvision:
            tv = tv_names[name]
            grad = tvp[tv].grad if tv in tvp else None
            value = tvp[tv] if tv in tvp else tvb[tv]
        else:
            grad, value = params[name].grad, params[name]
        if role in ("running_mean", "running_var"):
            arrays[f"state.{name}"] = f32(value).reshape(-1)
            continue
        if not trainable:
            continue
        if grad is None:
            fail(f"no gradient for {name}")
        g = grad.detach().numpy().reshape(-1)
        if a.sample and g.size > a.sample:
            idx = pi.sample_indices(name, g.size, a.sample, seed)
            arrays[f"grad.{name}.sample"] = g[idx].astype(np.float32)
            arrays[f"grad.{name}.index_sum"] = np.array([idx.sum()], dtype=np.int64)
            arrays[f"grad.{name}.norm"] = np.array([np.linalg.norm(g)], dtype=np.float32)
        else:
            arrays[f"grad.{name}"] = g.astype(np.float32)
    arrays["check.param_sums"] = np.array(sums, dtype=np.float64)

    meta = {
        "net": net["net"], "source": a.net, "batch": str(n), "seed": str(seed), "step": str(step),
        "label_smoothing": repr(smoothing), "gain": repr(a.gain), "grad_tol": repr(a.grad_tol), "grad_metric": a.grad_metric, "sample": str(a.sample), "model": a.torchvision or "generic",
        "torch": torch.__version__, "made_by": "tools/torch_ref.py " + " ".join(sys.argv[1:]),
    }
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    write_safetensors(out, arrays, meta)
    size = os.path.getsize(out)
    print(f"{out}: {net['net']} ({meta['model']}), batch {n}, loss {loss.item():.6f}, {len(arrays)} tensors, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
