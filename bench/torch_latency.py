#!/usr/bin/python3
"""torch_latency.py: PyTorch's half of bench/deploy: batch-1 evaluation latency.

    /usr/bin/python3 bench/torch_latency.py NET.net [--seconds 3] [--threads 1] [--netc bin/netc]

Builds the net as bench/torch_bench.py does (nn.Conv2d, nn.BatchNorm2d, ...),
puts it in eval mode, and times model(x) on one image under torch.no_grad()
(torch.set_num_threads(1) by default): three warm-up calls, then calls for
--seconds. Prints one JSON line: the best and the median call, in ms, as
deploy's `predict --bench` does.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bench import Graph  # noqa: E402  the same modules as the training benchmark


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("net")
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--netc", default="bin/netc")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    report = json.loads(subprocess.run([a.netc, "--report=json", a.net], capture_output=True, text=True, check=True).stdout)
    model = Graph(report).eval()
    w, h, c = report["input"]
    x = torch.randn(1, c, h, w)
    times = []
    with torch.no_grad():
        for _ in range(3):
            model(x)
        start = time.perf_counter()
        while len(times) < 10 or time.perf_counter() - start < a.seconds:
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    times.sort()
    print(json.dumps({"net": report["net"], "threads": a.threads, "torch": torch.__version__, "runs": len(times),
                      "best_ms": round(1e3 * times[0], 4), "median_ms": round(1e3 * times[len(times) // 2], 4)}))


if __name__ == "__main__":
    sys.exit(main())
