#!/usr/bin/python3
"""torch_bench.py: PyTorch's half of netc's benchmark.

    /usr/bin/python3 bench/torch_bench.py NET.net --trainer generated/NET [--epochs 2] [--eval-passes N] [--threads 2]

Builds the same network in PyTorch the way a PyTorch user would write it
(nn.Conv2d, nn.BatchNorm2d, nn.ReLU(inplace=True), nn.MaxPool2d, ...; for
AlexNet and SqueezeNet trained whole, torchvision's own models with 15
classes; layers the .net file freezes get requires_grad=False, so autograd
skips what netc skips), takes the
batch size and optimiser from the trainer's settings (`generated/NET report`),
and times exactly what `generated/NET bench` times: one untimed warm-up epoch,
then `--epochs` epochs of 1,500 images (forward, cross-entropy with the
net's label smoothing, backward, optimiser step), then as many evaluation
passes (or --eval-passes) over 2,985 images under torch.no_grad(), the best counted. One random batch is made once and
reused, so only the network's work is timed, on both sides. Prints one JSON
line like the trainer's.
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn

TORCHVISION = {"alexnet_ft": "alexnet", "squeezenet_ft": "squeezenet1_0", "squeezenet_tv": "squeezenet1_0"}


def settings(trainer):
    out = subprocess.run([trainer, "report"], capture_output=True, text=True, check=True).stdout
    s = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and parts[0].isidentifier():
            s[parts[0]] = parts[1].strip()
    return s


class Graph(nn.Module):
    """The .net file's layers as PyTorch modules, run in file order."""

    def __init__(self, report):
        super().__init__()
        self.layers = report["layers"]
        self.mods = nn.ModuleDict()
        for l in self.layers:
            k, key = l["kind"], l["name"].replace(".", "_")
            w, h, c = l["size"]
            if k == "conv":
                cin = self.channels(l["inputs"][0])
                self.mods[key] = nn.Conv2d(cin, l["out"], tuple(reversed(l["kernel"])), tuple(reversed(l["stride"])),
                                           tuple(reversed(l["pad"])), groups=l["groups"], bias=l["bias"])
            elif k == "linear":
                src = self.find(l["inputs"][0])
                self.mods[key] = nn.Linear(src["size"][0] * src["size"][1] * src["size"][2], l["out"], bias=l["bias"])
            elif k == "maxpool":
                self.mods[key] = nn.AdaptiveMaxPool2d(1) if l["global"] else nn.MaxPool2d(
                    tuple(reversed(l["kernel"])), tuple(reversed(l["stride"])), tuple(reversed(l["pad"])), ceil_mode=l["ceil"])
            elif k == "avgpool":
                self.mods[key] = nn.AdaptiveAvgPool2d(1) if l["global"] else nn.AvgPool2d(
                    tuple(reversed(l["kernel"])), tuple(reversed(l["stride"])), tuple(reversed(l["pad"])), ceil_mode=l["ceil"])
            elif k == "relu":
                self.mods[key] = nn.LeakyReLU(l["slope"], inplace=True) if l["slope"] else nn.ReLU(inplace=True)
            elif k == "lrn":
                self.mods[key] = nn.LocalResponseNorm(l["window"], alpha=l["alpha"], beta=l["beta"], k=l["k"])
            elif k == "resize":
                self.mods[key] = nn.Upsample(size=(h, w), mode="bilinear", align_corners=False)
            elif k == "dropout":
                self.mods[key] = nn.Dropout(l["p"])
            elif k == "batchnorm":
                self.mods[key] = nn.BatchNorm2d(c, eps=l["eps"])

    def find(self, name):
        return next(l for l in self.layers if l["name"] == name)

    def channels(self, name):
        return self.find(name)["size"][2]

    def forward(self, x):
        acts = {}
        for l in self.layers:
            k, key = l["kind"], l["name"].replace(".", "_")
            ins = [acts[s] for s in l["inputs"]]
            if k == "input":
                y = x
            elif k == "linear":
                y = self.mods[key](torch.flatten(ins[0], 1))[:, :, None, None]
            elif k == "flatten":
                y = torch.flatten(ins[0], 1)[:, :, None, None]
            elif k == "concat":
                y = torch.cat(ins, 1)
            elif k == "add":
                y = sum(ins[1:], ins[0])
            elif k == "softmax":
                return torch.flatten(ins[0], 1)
            else:
                y = self.mods[key](ins[0])
            acts[l["name"]] = y
        raise ValueError("no softmax layer")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("net")
    ap.add_argument("--trainer", required=True)
    ap.add_argument("--netc", default="bin/netc")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--eval-passes", type=int, default=None, help="evaluation passes, the best counted (default: as many as epochs)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-images", type=int, default=1500)
    ap.add_argument("--test-images", type=int, default=2985)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    report = json.loads(subprocess.run([a.netc, "--report=json", a.net], capture_output=True, text=True, check=True).stdout)
    s = settings(a.trainer)
    name = report["net"]
    frozen = [l["name"].replace(".", "_") for l in report["layers"] if l.get("frozen")]
    if name in TORCHVISION and not frozen:
        import torchvision
        model = getattr(torchvision.models, TORCHVISION[name])(num_classes=report["classes"])
    else:
        model = Graph(report)
        for key in frozen:
            if key in model.mods:
                model.mods[key].requires_grad_(False)
    batch = int(s["batch"])
    lr, wd, mom = float(s["lr"]), float(s["weight_decay"]), float(s["momentum"])
    if s["optimizer"] == "adam":
        opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=wd)
    else:
        opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr, momentum=mom, nesterov=s["nesterov"] == "on", weight_decay=wd)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=float(s["label_smoothing"]))
    w, h, c = report["input"]
    x = torch.randn(batch, c, h, w)
    y = torch.randint(0, report["classes"], (batch,))

    def epoch(images, train):
        for start in range(0, images, batch):
            n = min(batch, images - start)
            if train:
                opt.zero_grad(set_to_none=True)
                loss_fn(model(x[:n]), y[:n]).backward()
                opt.step()
            else:
                model(x[:n])

    model.train()
    times = []
    for e in range(a.epochs + 1):
        t0 = time.perf_counter()
        epoch(a.train_images, True)
        if e > 0:
            times.append(time.perf_counter() - t0)
    model.eval()
    t_eval = float("inf")  # the best evaluation pass counts (as the netc trainer's bench does)
    with torch.no_grad():
        for _ in range(a.eval_passes or a.epochs):
            t0 = time.perf_counter()
            epoch(a.test_images, False)
            t_eval = min(t_eval, time.perf_counter() - t0)
    mean = sum(times) / len(times)
    print(json.dumps({
        "net": name, "batch": batch, "threads": a.threads, "torch": torch.__version__, "epochs": a.epochs, "eval_passes": a.eval_passes or a.epochs,
        "train_s_per_epoch": round(mean, 4), "train_s_best": round(min(times), 4), "eval_s": round(t_eval, 4),
        "train_images_per_s": round(a.train_images / mean, 1), "eval_images_per_s": round(a.test_images / t_eval, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    sys.exit(main())
