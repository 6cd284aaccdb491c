#!/usr/bin/python3
"""PyTorch baseline for bench_gpt: one AdamW step of the same byte-level GPT (C = 128, L = 4,
H = 4, T = 64, 16 sequences of 64 bytes) in FP32 on one thread, the model written as in
scripts/gpt_reference.py (pre-LN blocks, tanh GELU, tied head).

Run with Debian's python3 (python3-torch; libopenblas0-pthread for its BLAS):
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/pytorch_gpt_step.py [--steps N]
Prints the median time of a step and tokens per second, and the process's peak resident memory.
--channels, --layers, --heads, --context, --batch and --seq change the model and the batch (the
memory comparison of docs/memory.md uses tiny_gpt's 25.4 M-parameter model: 512, 8, 8, 64, 1, 64).
"""
import argparse
import math
import resource
import statistics
import sys
import time

import torch

V, T, C, H, L, B, N = 256, 64, 128, 4, 4, 16, 64


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1, self.ln2 = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
        self.qkv, self.proj = torch.nn.Linear(C, 3 * C), torch.nn.Linear(C, C)
        self.fc, self.fc_proj = torch.nn.Linear(C, 4 * C), torch.nn.Linear(4 * C, C)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=-1)
        heads = lambda t: t.view(b, n, H, C // H).transpose(1, 2)  # noqa: E731
        att = heads(q) @ heads(k).transpose(-2, -1) / math.sqrt(C // H)
        att = torch.softmax(att.masked_fill(~self.mask[:n, :n], float("-inf")), dim=-1)
        x = x + self.proj((att @ heads(v)).transpose(1, 2).reshape(b, n, C))
        return x + self.fc_proj(torch.nn.functional.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(V, C), torch.nn.Embedding(T, C)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(L))
        self.lnf = torch.nn.LayerNorm(C)
        for name, p in self.named_parameters():  # GPT-2 initialisation, as fewbits' model
            if name.endswith("bias"):
                torch.nn.init.zeros_(p)
            elif "ln" not in name:
                std = 0.02 / math.sqrt(2 * L) if name.endswith(("proj.weight", "fc_proj.weight")) else 0.02
                torch.nn.init.normal_(p, 0.0, std)

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        logits = self.lnf(x) @ self.wte.weight.T
        return torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    for name, default in (("channels", C), ("layers", L), ("heads", H), ("context", T), ("batch", B), ("seq", N)):
        parser.add_argument("--" + name, type=int, default=default)
    args = parser.parse_args()
    globals().update(C=args.channels, L=args.layers, H=args.heads, T=args.context, B=args.batch, N=args.seq)
    if min(C, L, H, T, B, N) < 1 or C % H != 0 or N > T:
        sys.exit(f"pytorch_gpt_step.py: need positive sizes, channels a multiple of heads and seq <= context")
    if args.steps < 2:
        sys.exit(f"pytorch_gpt_step.py: --steps must be at least 2, got {args.steps}")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = GPT()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.randint(0, V, (B, N))
    targets = torch.randint(0, V, (B, N))
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(idx, targets)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
    step = statistics.median(times[1:])  # the first step allocates
    print(f"PyTorch {torch.__version__}, 1 thread: {step * 1e3:.1f} ms per step, {B * N / step:.0f} tokens/s "
          f"(median of {len(times) - 1}), final loss {loss.item():.4f}")
    params = sum(p.numel() for p in model.parameters())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(f"{params} parameters, peak resident memory {peak / 1e6:.1f} MB ({peak / params:.2f} bytes/parameter)")


if __name__ == "__main__":
    main()
