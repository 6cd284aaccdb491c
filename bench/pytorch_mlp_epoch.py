#!/usr/bin/python3
"""PyTorch baseline for bench_train: one FP32 epoch of the same 784-128-10 MLP (ReLU,
softmax cross-entropy, plain SGD lr 0.05, batch 32, pixels in [0, 1]) on the Fashion-MNIST
training set, on one thread, timed with the same clock as the C++ benchmark's wall time.

Run with Debian's python3 (python3-torch; libopenblas0-pthread for its BLAS):
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch_mlp_epoch.py [--repetitions N]
Prints one line per repetition and the median, in seconds per epoch.
"""
import argparse
import gzip
import statistics
import sys
import time

import numpy as np
import torch

DATA = "/usr/share/datasets/fashion-mnist"


def load(prefix):
    try:
        with gzip.open(f"{DATA}/{prefix}-images-idx3-ubyte.gz") as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
        with gzip.open(f"{DATA}/{prefix}-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
    except FileNotFoundError as e:
        sys.exit(f"pytorch_mlp_epoch.py: {e.filename} not found; install the data set with "
                 "`sudo apt-get install dataset-fashion-mnist` or cmake/install-deps.sh --with-data")
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    if args.repetitions < 1:
        sys.exit(f"pytorch_mlp_epoch.py: --repetitions must be at least 1, got {args.repetitions}")
    torch.set_num_threads(1)
    x, y = load("train")
    times = []
    for rep in range(args.repetitions):
        torch.manual_seed(rep)
        model = torch.nn.Sequential(torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        order = torch.randperm(x.shape[0])
        start = time.perf_counter()
        total = 0.0
        for i in range(0, x.shape[0], 32):
            idx = order[i:i + 32]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        print(f"epoch {rep}: {elapsed:.3f} s, mean train loss {total / x.shape[0]:.4f}")
    print(f"median: {statistics.median(times):.3f} s per epoch (PyTorch {torch.__version__}, 1 thread)")


if __name__ == "__main__":
    main()
