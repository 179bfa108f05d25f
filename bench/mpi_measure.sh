#!/bin/sh
# bench/mpi_measure.sh [NET.net ...]: the figures of data-parallel training
# on this machine, for bench/mpi_project.py (README, "Training on several
# processes and machines (MPI)"). Default nets: DeeperNet, AlexNet-FT,
# SqueezeNet as shipped (fine-tuned) and trained whole
# (tests/torchvision/squeezenet_tv.net). For each, into bench/mpi/<net>.txt:
#   - `TRAINER profile` alone (1 process, all cores): the compute of a step
#     at the recipe's batch, forward, backward and optimiser;
#   - `mpirun -np 2 TRAINER profile`, over TCP (--mca btl tcp,self) and over
#     shared memory (--mca btl vader,self): a step's compute, its gradient
#     allreduce, and the step with one allreduce after backward and with
#     buckets started during it; the buckets' sizes and start times.
# And for DeeperNet (TRAIN_NET; empty: not), into bench/mpi/train.txt: one
# epoch of real training (decoding, augmentation, the data pipeline
# included) as 1 process of 2 threads and as 2 processes of 1 thread (TCP
# and shared memory), images/s from each run's metrics.csv.
# Each file starts with the CPU it ran on. Run it alone on the machine
# (here: /work/bin/quiet bench/mpi_measure.sh): its figures are seconds.
# ITERS (default 5) steps per profile; MPI_NP (default 2) processes.
set -eu
cd "$(dirname "$0")/.."
NETC=${NETC_BIN:-bin/netc}
ITERS=${ITERS:-5}
NP=${MPI_NP:-2}
NETS=${*:-nets/deepernet.net nets/alexnet_ft.net nets/squeezenet_ft.net tests/torchvision/squeezenet_tv.net}
TRAIN_NET=${TRAIN_NET-nets/deepernet.net}
command -v mpirun >/dev/null || { echo "mpi_measure.sh: mpirun is missing (apt-get install openmpi-bin, or make deps)" >&2; exit 1; }
[ -x "$NETC" ] || { echo "mpi_measure.sh: $NETC is missing: run make first" >&2; exit 1; }
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN="mpirun -np $NP --oversubscribe"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p bench/mpi

header() {
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
    isa=$(grep -o -w -m1 avx512f /proc/cpuinfo | head -1)
    echo "# $1 on $(nproc) cores of $cpu (${isa:-no avx512f}), $(date -u '+%Y-%m-%d %H:%M UTC'), Open MPI $(mpirun --version | sed -n 's/.*Open MPI) //p')"
}

build() { # NET.net: builds its trainer in $WORK, prints its name
    net=$(basename "$1" .net)
    "$NETC" -q --out-dir "$WORK" -o "$WORK/$net" "$1" >/dev/null
    echo "$net"
}

for file in $NETS; do
    net=$(build "$file")
    out=bench/mpi/$net.txt
    {
        header "$net"
        echo "## 1 process, $(nproc) threads: $net profile --iters $ITERS"
        "$WORK/$net" profile --iters "$ITERS" | grep -E '^ *(train step|evaluation):'
        for btl in tcp vader; do
            echo "## $NP processes over $btl: mpirun -np $NP --mca btl $btl,self $net profile --iters $ITERS"
            $MPIRUN --mca btl "$btl,self" "$WORK/$net" profile --iters "$ITERS"
        done
    } > "$out.part"
    mv "$out.part" "$out"
    echo "wrote $out"
done

[ -n "$TRAIN_NET" ] || exit 0
first=$(build "$TRAIN_NET")
out=bench/mpi/train.txt
{
    header "$first: one epoch of training (--epochs 1 --test off)"
    run() { # NAME THREADS LAUNCHER... : prints NAME and the epoch's images/s
        name=$1 threads=$2; shift 2
        dir=$WORK/run-$(echo "$name" | tr -c 'a-z0-9\n' -)
        "$@" "$WORK/$first" train --epochs 1 --test off --threads "$threads" --quiet --force --out "$dir" >/dev/null
        echo "$name: $(tools/metric.sh "$dir/metrics.csv" images_per_sec) images/s"
    }
    run "1 process x $(nproc) threads" "$(nproc)"
    run "$NP processes x 1 thread, tcp" 1 $MPIRUN --mca btl tcp,self
    run "$NP processes x 1 thread, vader" 1 $MPIRUN --mca btl vader,self
} > "$out.part"
mv "$out.part" "$out"
echo "wrote $out"
