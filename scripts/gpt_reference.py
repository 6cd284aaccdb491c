#!/usr/bin/python3
"""Reference state of fewbits' tiny GPT (the byte-level GPT-2 of the language-model work), computed
by PyTorch in double precision.

Writes, for a micro model of the pinned architecture (V = 256, T = 8, C = 16, H = 2, L = 2) with GPT-2
initialisation and a batch of bytes from tests/data/jargon_sample.txt.gz:
  OUT          the state in the FBLM format that `tiny_gpt --dump-state` writes: the 4 bytes
               FBLM; uint32 version 1, V, T, C, H, L, B, N; float32 parameters (wte [V][C],
               wpe [T][C], per layer ln1_w, ln1_b, qkv_w [C][3C], qkv_b, attn_proj_w [C][C],
               attn_proj_b, ln2_w, ln2_b, fc_w [C][4C], fc_b, fc_proj_w [4C][C], fc_proj_b, then
               lnf_w, lnf_b); int32 inputs [B][N]; int32 targets [B][N]; float32 logits
               [B][N][V]; float32 loss; float32 gradients in the parameter order. Little-endian.
  OUT.adamw    text: the AdamW settings and the loss before each of 10 AdamW steps on that
               batch (torch.optim.AdamW), for the C++ test's loss trajectory.
The forward and backward passes run in float64 from the float32 parameters, so the file holds
the exact values rounded once to float32.

Run with Debian's python3 (python3-torch), not another python on PATH:
    /usr/bin/python3 scripts/gpt_reference.py --out tests/data/gpt_reference.bin
"""
import argparse
import gzip
import math
import struct
import sys

import torch

V, T, C, H, L, B, N = 256, 8, 16, 2, 2, 2, 8
SEED = 1234
WINDOW_STARTS = (100, 5000)  # byte offsets of the batch's sequences in the sample text
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
STEPS = 10


def parameter_shapes():
    shapes = [("wte", (V, C)), ("wpe", (T, C))]
    for layer in range(L):
        shapes += [(f"h{layer}.ln1_w", (C,)), (f"h{layer}.ln1_b", (C,)),
                   (f"h{layer}.qkv_w", (C, 3 * C)), (f"h{layer}.qkv_b", (3 * C,)),
                   (f"h{layer}.attn_proj_w", (C, C)), (f"h{layer}.attn_proj_b", (C,)),
                   (f"h{layer}.ln2_w", (C,)), (f"h{layer}.ln2_b", (C,)),
                   (f"h{layer}.fc_w", (C, 4 * C)), (f"h{layer}.fc_b", (4 * C,)),
                   (f"h{layer}.fc_proj_w", (4 * C, C)), (f"h{layer}.fc_proj_b", (C,))]
    return shapes + [("lnf_w", (C,)), ("lnf_b", (C,))]


def gpt2_init(generator):
    params = {}
    for name, shape in parameter_shapes():
        base = name.split(".")[-1]
        if base.endswith("_b") or name == "lnf_b":
            value = torch.zeros(shape)
        elif base.startswith("ln") or name == "lnf_w":
            value = torch.ones(shape)
        else:
            std = 0.02 / math.sqrt(2 * L) if base in ("attn_proj_w", "fc_proj_w") else 0.02
            value = torch.normal(0.0, std, shape, generator=generator)
        params[name] = value.to(torch.float32)
    return params


def layer_norm(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)  # biased
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def gelu(u):
    return 0.5 * u * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (u + 0.044715 * u ** 3)))


def forward(p, inputs, targets):
    b, n = inputs.shape
    x = p["wte"][inputs] + p["wpe"][:n]
    hs = C // H
    mask = torch.tril(torch.ones(n, n, dtype=torch.bool))
    for layer in range(L):
        q = lambda name: p[f"h{layer}.{name}"]  # noqa: E731
        h = layer_norm(x, q("ln1_w"), q("ln1_b"))
        qkv = h @ q("qkv_w") + q("qkv_b")
        query, key, value = qkv.split(C, dim=-1)
        heads = lambda t: t.view(b, n, H, hs).transpose(1, 2)  # noqa: E731
        att = heads(query) @ heads(key).transpose(-2, -1) / math.sqrt(hs)
        att = torch.softmax(att.masked_fill(~mask, float("-inf")), dim=-1)
        y = (att @ heads(value)).transpose(1, 2).reshape(b, n, C)
        x = x + y @ q("attn_proj_w") + q("attn_proj_b")
        h2 = layer_norm(x, q("ln2_w"), q("ln2_b"))
        x = x + gelu(h2 @ q("fc_w") + q("fc_b")) @ q("fc_proj_w") + q("fc_proj_b")
    logits = layer_norm(x, p["lnf_w"], p["lnf_b"]) @ p["wte"].T
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    return logits, loss


def batch_from_sample(path):
    try:
        text = gzip.open(path).read()
    except FileNotFoundError:
        sys.exit(f"gpt_reference.py: {path} not found (run from the repository's top directory)")
    inputs = torch.tensor([list(text[s:s + N]) for s in WINDOW_STARTS], dtype=torch.int64)
    targets = torch.tensor([list(text[s + 1:s + N + 1]) for s in WINDOW_STARTS], dtype=torch.int64)
    return inputs, targets


def main():
    parser = argparse.ArgumentParser(description="PyTorch reference state of fewbits' tiny GPT")
    parser.add_argument("--out", required=True, help="output file (FBLM); OUT.adamw gets the AdamW losses")
    parser.add_argument("--sample", default="tests/data/jargon_sample.txt.gz")
    args = parser.parse_args()
    torch.set_num_threads(1)
    params32 = gpt2_init(torch.Generator().manual_seed(SEED))
    inputs, targets = batch_from_sample(args.sample)
    p = {k: v.to(torch.float64).requires_grad_() for k, v in params32.items()}
    logits, loss = forward(p, inputs, targets)
    loss.backward()

    with open(args.out, "wb") as f:
        f.write(b"FBLM")
        f.write(struct.pack("<8I", 1, V, T, C, H, L, B, N))
        for name, _ in parameter_shapes():
            f.write(params32[name].contiguous().numpy().astype("<f4").tobytes())
        f.write(inputs.numpy().astype("<i4").tobytes())
        f.write(targets.numpy().astype("<i4").tobytes())
        f.write(logits.detach().to(torch.float32).numpy().astype("<f4").tobytes())
        f.write(struct.pack("<f", loss.item()))
        for name, _ in parameter_shapes():
            f.write(p[name].grad.to(torch.float32).numpy().astype("<f4").tobytes())

    # AdamW on the float64 copy of the same parameters, the same batch every step.
    p = {k: v.to(torch.float64).requires_grad_() for k, v in params32.items()}
    opt = torch.optim.AdamW([p[name] for name, _ in parameter_shapes()], **ADAMW)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        _, step_loss = forward(p, inputs, targets)
        step_loss.backward()
        losses.append(step_loss.item())
        opt.step()
    with open(args.out + ".adamw", "w") as f:
        f.write(f"# torch.optim.AdamW lr {ADAMW['lr']} betas {ADAMW['betas'][0]} {ADAMW['betas'][1]} "
                f"eps {ADAMW['eps']} weight_decay {ADAMW['weight_decay']}, PyTorch {torch.__version__}, float64\n")
        f.write("# the loss before each step, on the batch of the state file\n")
        for value in losses:
            f.write(f"{value:.9g}\n")
    print(f"wrote {args.out} ({sum(v.numel() for v in params32.values())} parameters, loss {loss.item():.6f}) "
          f"and {args.out}.adamw (losses {losses[0]:.6f} .. {losses[-1]:.6f})")


if __name__ == "__main__":
    main()
