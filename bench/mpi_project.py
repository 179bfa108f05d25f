#!/usr/bin/env python3
"""bench/mpi_project.py [-o FILE] [options]: what data-parallel training would
do on 2 to 256 machines, projected from this machine's measured figures
(bench/mpi/*.txt, written by bench/mpi_measure.sh), as Markdown
(docs/mpi_scaling.md is its output: bench/mpi_project.py -o docs/mpi_scaling.md).

The model, one step on N machines each like the measured one (or K times
faster: --speedups), each with the recipe's batch (so the global batch is
N times that):
  - compute: forward F, backward B and optimiser O of 1 process on all the
    machine's cores (`TRAINER profile`), divided by K;
  - batch norm with sync_bn on: its sums (c calls of d doubles in all, per
    step, measured) block forward and backward; small messages go by
    recursive doubling: c * ceil(log2 N) * alpha + ceil(log2 N) * 8d / beta;
  - the gradients: G bytes in buckets of g_i bytes (measured, bucket_mb 4);
    a ring allreduce of g bytes takes 2(N-1) * alpha + 2(N-1)/N * g / beta
    (each machine sends and receives 2(N-1)/N of the bytes, in 2(N-1)
    messages, one after the other);
  - no overlap: the step is F + B + O + sync + ring(G), one allreduce;
  - overlap: bucket i is ready r_i into backward (its measured start over
    the measured backward, scaled to B); the buckets' allreduces share the
    link one after another (each starts when it is ready and the one before
    it is done) and the step is F + sync + max(B, the last one's end) + O.
    This assumes the allreduce costs the cores nothing, as with a NIC
    doing the work or a core to spare for MPI's progress; on the measured
    2-core machine neither holds (bench/mpi/*.txt show what it costs there).
beta is the link's rate times --link-efficiency; alpha (--alpha-us) the
time of one message between two machines through MPI over TCP. Both are
assumptions, not measurements: there is one machine here. Efficiency is
the compute alone over the step; the speed-up is N times that.
"""
import argparse
import math
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETS = [("deepernet", "DeeperNet"), ("squeezenet_ft", "SqueezeNet-FT (as shipped: conv1..fire7 frozen)"),
        ("squeezenet_tv", "SqueezeNet (trained whole)"), ("alexnet_ft", "AlexNet-FT")]
MACHINES = [2, 8, 64, 256]
LINKS = [10, 100]  # Gbit/s
MODES = ["compute alone", "allreduce alone", "no overlap", "overlap"]


def fail(msg):
    sys.exit(f"mpi_project.py: {msg}")


def parse(path):
    """The figures of one bench/mpi/<net>.txt."""
    try:
        text = open(path).read()
    except OSError as e:
        fail(f"{e.strerror}: {path} (run bench/mpi_measure.sh first)")
    d = {"header": text.splitlines()[0].lstrip("# ").strip(), "runs": {}}
    m = re.search(r"train step: forward ([\d.]+) ms, backward ([\d.]+) ms, optimiser ([\d.]+) ms: ([\d.]+) ms, (\d+) images/s",
                  text)
    if not m:
        fail(f"{path}: no 1-process 'train step' line")
    d["F"], d["B"], d["O"] = (float(m.group(i)) / 1e3 for i in (1, 2, 3))
    for sec in re.split(r"^## ", text, flags=re.M)[1:]:
        m = re.match(r"(\d+) processes over (\w+):", sec)
        if not m:
            continue
        run, btl = {"np": int(m.group(1))}, m.group(2)
        run["batch"] = int(re.search(r"; batch (\d+),", sec).group(1))
        run["threads"] = int(re.search(r", (\d+) threads? each", sec).group(1))
        run["mb"] = float(re.search(r"gradients: ([\d.]+) MB summed per step", sec).group(1))
        for mode in MODES:
            row = re.search(r"^  " + re.escape(mode) + r"[^\d]*((?:\s+-?[\d.]+)+)\s*$", sec, re.M)
            if not row:
                fail(f"{path}: no '{mode}' row")
            v = [float(x) for x in row.group(1).split()]
            run[mode] = {"step": v[0] / 1e3, "forward": v[1] / 1e3, "backward": v[2] / 1e3, "sync": v[3] / 1e3,
                         "hooks": v[4] / 1e3, "wait": v[5] / 1e3, "copies": v[6] / 1e3, "images/s": v[8]}
        m = re.search(r"when backward \(([\d.]+) ms with its hooks\)", sec)
        run["backward_all"] = float(m.group(1)) / 1e3
        run["buckets"] = [(float(a) * 1e6, float(b) / 1e3)
                          for a, b in re.findall(r"bucket \d+: ([\d.]+) MB, started at ([\d.]+) ms", sec)]
        m = re.search(r"batch norm's sums per step: (\d+) calls, (\d+) doubles", sec)
        run["sync_calls"], run["sync_doubles"] = int(m.group(1)), int(m.group(2))
        d["runs"][btl] = run
    if "tcp" not in d["runs"]:
        fail(f"{path}: no run over tcp")
    return d


def ring(n, nbytes, alpha, beta):
    return 0.0 if n == 1 else 2 * (n - 1) * alpha + 2 * (n - 1) / n * nbytes / beta


def project(d, n, gbit, speedup, a):
    """Seconds of a step's compute alone, of the step without and with
    overlap, and of the gradients' ring allreduce, on n machines."""
    run = d["runs"]["tcp"]
    alpha, beta = a.alpha_us * 1e-6, gbit * 1e9 / 8 * a.link_efficiency
    F, B, O = d["F"] / speedup, d["B"] / speedup, d["O"] / speedup
    steps = math.ceil(math.log2(n)) if n > 1 else 0
    sync = run["sync_calls"] * steps * alpha + steps * 8 * run["sync_doubles"] / beta
    grad = sum(g for g, _ in run["buckets"])
    no_overlap = F + B + O + sync + ring(n, grad, alpha, beta)
    end = 0.0
    for g, started in run["buckets"]:
        ready = B * min(1.0, started / run["backward_all"])
        end = max(ready, end) + ring(n, g, alpha, beta)
    overlap = F + sync + max(B, end) + O
    return F + B + O, no_overlap, overlap, ring(n, grad, alpha, beta)


def measured_table(d_all):
    out = ["| net | processes over | gradients MB | compute alone ms | allreduce alone ms | no overlap ms | "
           "overlap ms | overlap: hooks + wait ms | sync_bn ms | images/s (overlap) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, title in NETS:
        for btl, run in d_all[key]["runs"].items():
            c, r, no, ov = (run[m] for m in MODES)
            out.append(f"| {title.split(' (')[0]} | {run['np']} x {run['threads']} thread, {btl} | {run['mb']:.1f} | "
                       f"{1e3 * c['step']:.0f} | {1e3 * r['step']:.0f} | {1e3 * no['step']:.0f} | {1e3 * ov['step']:.0f} | "
                       f"{1e3 * (ov['hooks'] + ov['wait']):.0f} | {1e3 * ov['sync']:.0f} | {ov['images/s']:.0f} |")
    return out


def projected_table(d_all, speedup, a):
    what = "each machine like this one (its measured compute per step)" if speedup == 1 else \
        f"each machine {speedup:g} times faster than this one (its measured compute per step / {speedup:g}: e.g. " \
        f"{2 * speedup:g} such cores)"
    o = [f"## Projected: {what}", "",
         f"{what[0].upper() + what[1:]}, the recipe's batch (50) per machine per step (so the global batch is N times that), "
         f"gradients in buckets of 4 MB (bucket_mb), sync_bn on; alpha = {a.alpha_us:g} us per message, links at "
         f"{a.link_efficiency:g} of their rate. Ring: the gradients' allreduce alone. Efficiency: compute alone over the "
         "step, with overlap (speed-up = N x efficiency).", ""]
    hdr = "| net | machines | compute ms |"
    for g in LINKS:
        hdr += f" ring ms @{g} Gbit/s | step ms, no overlap | step ms, overlap | efficiency |"
    o += [hdr, "|---|---:|---:|" + "---:|---:|---:|---:|" * len(LINKS)]
    verdicts = []
    for key, title in NETS:
        d = d_all[key]
        eff, one_wins = {}, {g: [] for g in LINKS}
        for n in MACHINES:
            row = f"| {title.split(' (')[0]} | {n} |"
            for i, g in enumerate(LINKS):
                comp, no, ov, rg = project(d, n, g, speedup, a)
                if i == 0:
                    row += f" {1e3 * comp:.0f} |"
                row += f" {1e3 * rg:.1f} | {1e3 * no:.0f} | {1e3 * ov:.0f} | {100 * comp / min(no, ov):.0f}% |"
                eff[(n, g)] = comp / min(no, ov)
                if no < ov:
                    one_wins[g].append(n)
            o.append(row)
        grad = sum(b for b, _ in d["runs"]["tcp"]["buckets"]) / 1e6
        for g in LINKS:
            below = [n for n in MACHINES if eff[(n, g)] < 0.9]
            effs = ", ".join(f"{n}: {100 * eff[(n, g)]:.0f}%" for n in MACHINES)
            if not below:
                v = f"- {title}, {grad:.1f} MB of gradients, at {g} Gbit/s: scales to 256 machines ({effs})"
            else:
                v = f"- {title}, {grad:.1f} MB of gradients, at {g} Gbit/s: below 90% efficiency from {below[0]} machines ({effs})"
            if one_wins[g]:
                v += (f"; on {', '.join(map(str, one_wins[g]))} machines one allreduce after backward (bucket_mb 0) beats "
                      "the buckets, whose every ring pays 2(N-1) latencies")
            verdicts.append(v + ".")
    return o + ["", "Where it scales and where it stops (90% efficiency as the line):", ""] + verdicts + [""]


def summary(d_all, speedups, a):
    """The measured table and the projected efficiencies: the README's copy."""
    o = measured_table(d_all) + [""]
    for speedup in speedups:
        who = "machines like this one" if speedup == 1 else f"machines {speedup:g} times faster"
        o += [f"| {who}: efficiency at 10 / 100 Gbit/s | gradients | " + " | ".join(f"{n} machines" for n in MACHINES) + " |",
              "|---|---:|" + "---:|" * len(MACHINES)]
        for key, title in NETS:
            d = d_all[key]
            cells = []
            for n in MACHINES:
                e = []
                for g in LINKS:
                    comp, no, ov, _ = project(d, n, g, speedup, a)
                    e.append(f"{100 * comp / min(no, ov):.0f}%")
                cells.append(" / ".join(e))
            grad = sum(b for b, _ in d["runs"]["tcp"]["buckets"]) / 1e6
            o.append(f"| {title} | {grad:.1f} MB | " + " | ".join(cells) + " |")
        o.append("")
    return o


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", metavar="FILE", help="write the Markdown here (else stdout)")
    p.add_argument("--dir", default=os.path.join(ROOT, "bench", "mpi"), help="the measured figures (bench/mpi)")
    p.add_argument("--alpha-us", type=float, default=30.0,
                   help="one message between two machines, MPI over TCP, microseconds (30)")
    p.add_argument("--link-efficiency", type=float, default=0.9,
                   help="the share of the link's rate TCP and MPI reach on large messages (0.9)")
    p.add_argument("--summary", action="store_true", help="the measured table and the projected efficiencies alone (the README's tables)")
    p.add_argument("--speedups", default="1,16",
                   help="one table per factor: machines that many times faster than the measured one (1,16)")
    a = p.parse_args()
    try:
        speedups = [float(x) for x in a.speedups.split(",")]
    except ValueError:
        fail(f"--speedups {a.speedups}: numbers separated by commas, e.g. 1,16")
    d_all = {key: parse(os.path.join(a.dir, key + ".txt")) for key, _ in NETS}
    if a.summary:
        sys.stdout.write("\n".join(summary(d_all, speedups, a)))
        return
    o = ["# Data-parallel training: measured here, projected to 256 machines", "",
         "Written by `bench/mpi_project.py` from the figures `bench/mpi_measure.sh` measured "
         "(bench/mpi/*.txt); rerun both to redo it.", ""]
    o += ["## Measured on this machine", ""]
    o += [f"- {d['header']}" for d in d_all.values()]
    o += ["", "Two processes of one thread each, on this 2-core machine, batch 50 (25 images each), mean over the "
          "steps of `mpirun -np 2 TRAINER profile`, slowest process; the allreduce sums each step's gradients:", ""]
    o += measured_table(d_all)
    o += ["", "Over TCP the two processes' messages go through the kernel's loopback, over vader through shared memory. "
          "Neither has a core to spare: the allreduce, batch norm's sums and the other process's compute share the two "
          "cores, so what overlap saves here is bounded by the CPU time the sums take, not by a network.", ""]
    tp = os.path.join(a.dir, "train.txt")
    if os.path.exists(tp):
        lines = open(tp).read().splitlines()
        o += ["One epoch of real training (data pipeline included; `bench/mpi/train.txt`): " + lines[0].lstrip("# "), ""]
        o += ["| run | images/s |", "|---|---:|"]
        for line in lines[1:]:
            m = re.match(r"(.*): ([\d.]+) images/s", line)
            if m:
                o.append(f"| {m.group(1)} | {float(m.group(2)):.0f} |")
        o.append("")
    for speedup in speedups:
        o += projected_table(d_all, speedup, a)
    o += ["", "What the model leaves out, each against scaling: machines with more cores or a GPU compute a step "
          "faster, so the same allreduce weighs more (the tables for faster machines divide the compute alone, "
          "as if it scaled with cores); latency "
          f"grows with N in a ring (2(N-1) messages per bucket: at 256 machines and {a.alpha_us:g} us, "
          f"{510 * a.alpha_us / 1e3:.1f} ms per bucket), which Open MPI's "
          "other algorithms (recursive doubling, trees) trade against bandwidth; over TCP the kernel's copies of the "
          "bytes take CPU time the model counts as free (RDMA networks avoid them; on this machine the hooks that drive "
          f"the sums took {1e3 * d_all['alexnet_ft']['runs']['tcp']['overlap']['hooks']:.0f} ms of AlexNet-FT's step "
          "over TCP); stragglers and a shared switch's contention are not modelled. A global batch of 50 x 256 = 12,800 is a training question too: the learning "
          "rate schedule that trains at 50 does not carry over unchanged.", ""]
    text = "\n".join(o)
    if a.o:
        with open(a.o, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
