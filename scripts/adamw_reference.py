#!/usr/bin/python3
"""Writes tests/data/adamw_reference.txt: a few steps of PyTorch's torch.optim.AdamW in float32,
for test_adamw's cross-check of fewbits::adamw_update (W = S = float) against PyTorch itself.

Run with Debian's python3-torch (1.13): /usr/bin/python3 scripts/adamw_reference.py
The output is small and checked in; rerunning it must reproduce it bit for bit.

Format (every float as C99 hex, "%a", which std::strtof reads exactly):
  options lr beta1 beta2 eps weight_decay
  n <elements> steps <steps>
  w0 <n floats>
  then per step t = 1..steps:
    g <n floats>          the gradient given at step t
    w <n floats>          the weights after step t
    m <n floats>          exp_avg after step t
    v <n floats>          exp_avg_sq after step t
Gradients are a fixed formula of (i, t), so the file documents itself.
"""
import math
import os
import sys

import torch

N = 24
STEPS = 12
# Every option exact in float32: fewbits takes float options, PyTorch keeps Python doubles, and
# 1 - float(0.999) differs from 1 - 0.999 by 1.3e-5 relative (a difference of inputs, not of
# arithmetic, which this file is meant to check).
LR, BETA1, BETA2, EPS, WD = 2.0**-7, 1 - 2.0**-3, 1 - 2.0**-9, 2.0**-26, 2.0**-4


def f32(x):
    return torch.tensor(x, dtype=torch.float32)


def hexes(t):
    return " ".join(float(x).hex() for x in t.tolist())


def main():
    out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "adamw_reference.txt")
    w = torch.tensor([math.sin(0.7 * i + 0.2) * (1.0 + (i % 4)) for i in range(N)], dtype=torch.float32)
    p = torch.nn.Parameter(w.clone())
    # foreach=False: the single-tensor loop, whose float32 arithmetic fewbits' contract follows.
    opt = torch.optim.AdamW([p], lr=LR, betas=(BETA1, BETA2), eps=EPS, weight_decay=WD, foreach=False)
    lines = [
        "options " + " ".join(float(torch.tensor(x, dtype=torch.float32)).hex() for x in (LR, BETA1, BETA2, EPS, WD)),
        f"n {N} steps {STEPS}",
        "w0 " + hexes(p.detach()),
    ]
    for t in range(1, STEPS + 1):
        g = torch.tensor([math.cos(0.3 * i * t + 0.1) * (0.5 if i % 3 else 1e-3) for i in range(N)],
                         dtype=torch.float32)
        p.grad = g.clone()
        opt.step()
        state = opt.state[p]
        lines += ["g " + hexes(g), "w " + hexes(p.detach()), "m " + hexes(state["exp_avg"]),
                  "v " + hexes(state["exp_avg_sq"])]
    with open(out_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out_path} (torch {torch.__version__})", file=sys.stderr)


if __name__ == "__main__":
    main()
