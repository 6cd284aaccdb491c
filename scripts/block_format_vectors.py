#!/usr/bin/env python3
"""Golden vectors for fewbits' block-scaled formats (tests/data/block_formats_golden.txt).

  /usr/bin/python3 scripts/block_format_vectors.py MICROXCALING_DIR > tests/data/block_formats_golden.txt

MICROXCALING_DIR is a checkout of github.com/microsoft/microxcaling (the directory holding mx/);
it runs on the CPU with Debian's python3-torch 1.13. Its package __init__ imports modules that
need more than torch, so the script loads mx.mx_ops alone (a bare package object for mx).

Three kinds of lines, all on one input of 12 blocks of 32 floats (the "input" line):
  mx microxcaling <elem> <round>   microxcaling's _quantize_mx(A, 8, elem, axes=[-1],
                                   block_size=32, round=...): the dequantized values (float bits).
  mx torchao <elem> <rule>         torchao's to_mx (FLOOR, RCEIL, EVEN) re-derived from its code:
                                   torchao needs torch >= 2.x (float8 dtypes), so its rules are
                                   written out here in integer and float32 steps (scale codes,
                                   then element codes; elements round to nearest-even, saturating).
  nvfp4 <chain>                    NVFP4 (on the "nvfp4_input" line) through Transformer Engine's or torchao's scale chain,
                                   re-derived the same way in numpy float32 (tensor scale, block
                                   scale codes, packed bytes).
Blocks where microxcaling's float32 log2 picks another exponent than the exact OCP rule are
reported on stderr and written as "skip" (none for this input; the check is kept so that a
change of input cannot slip one in).
"""
import math
import random
import struct
import sys
import types

import numpy as np

F32 = np.float32


def bits(x):
    return struct.unpack("<I", struct.pack("<f", float(x)))[0]


def from_bits(b):
    return struct.unpack("<f", struct.pack("<I", b))[0]


# ---- the input ---------------------------------------------------------------------------
def make_input():
    rng = random.Random(20261205)
    blocks = []

    def log_uniform(lo, hi):
        v = [rng.choice((-1.0, 1.0)) * 2.0 ** rng.uniform(lo, hi) for _ in range(32)]
        return [float(F32(x)) for x in v]

    blocks.append([0.0, -0.0] * 16)                                            # all zero
    blocks.append([rng.choice((-1, 1)) * from_bits(rng.randrange(1, 0x800000)) for _ in range(32)])  # subnormal
    b = log_uniform(-3, 3); b[5] = 8.0; blocks.append(b)                        # amax a power of two
    b = log_uniform(-3, 2); b[7] = -6.0 * 4; blocks.append(b)                   # amax = E2M1 max * 4
    b = log_uniform(-3, 2); b[9] = 7.5; blocks.append(b)                        # clips under floor for E2M1
    b = log_uniform(-3, 2); b[11] = 7.9; blocks.append(b)                       # even rounds up a binade (E4M3)
    b = log_uniform(-3, 3); b[2] = math.inf; blocks.append(b)                   # inf in the block
    b = log_uniform(-3, 3); b[30] = math.nan; blocks.append(b)                  # NaN in the block
    blocks.append(log_uniform(120, 126.5))                                      # huge (no carry past float max: see docs)
    blocks.append(log_uniform(-135, -126))                                      # tiny: the scale clamps
    blocks.append(log_uniform(-20, 20))                                         # wide range
    blocks.append(log_uniform(-1, 1))                                           # narrow range
    return [x for blk in blocks for x in blk]


# ---- element formats ------------------------------------------------------------------------
# name: (exponent bits, mantissa bits, bias, max)
ELEMS = {
    "e4m3": (4, 3, 7, 448.0),
    "e5m2": (5, 2, 15, 57344.0),
    "e3m2": (3, 2, 3, 28.0),
    "e2m3": (2, 3, 1, 7.5),
    "e2m1": (2, 1, 1, 6.0),
}
EMAX = {"e4m3": 8, "e5m2": 15, "e3m2": 4, "e2m3": 2, "e2m1": 2}


def round_to_element(v, elem):
    """Nearest-even, saturating, of the exact value v (a float64 holding it exactly): the code."""
    e_bits, m_bits, bias, vmax = ELEMS[elem]
    sign = 1 if math.copysign(1.0, v) < 0 else 0
    a = abs(v)
    if a >= vmax:
        mag = vmax
    else:
        e = max(math.frexp(a)[1] - 1 if a > 0 else 1 - bias, 1 - bias)
        step = 2.0 ** (e - m_bits)
        mag = round(a / step) * step  # Python rounds halves to even, exactly for float64
        mag = min(mag, vmax)
    # encode mag
    if mag == 0:
        code = 0
    else:
        e = math.frexp(mag)[1] - 1
        if e < 1 - bias:  # subnormal
            code = int(mag / 2.0 ** (1 - bias - m_bits))
        else:
            code = ((e + bias) << m_bits) | int((mag / 2.0 ** e - 1) * 2 ** m_bits)
    return code | (sign << (e_bits + m_bits))


# ---- torchao's to_mx scale rules, written out ------------------------------------------------
def torchao_scale(amax_f32, elem, rule):
    mbits = ELEMS[elem][1]
    vmax = ELEMS[elem][3]
    a = bits(amax_f32)
    if not math.isfinite(amax_f32):
        return 255
    if rule == "rceil":
        descale = F32(F32(amax_f32) * F32(1.0 / vmax))  # max_abs * (1.0 / max_pos) in float32
        d = bits(descale)
        exp_field = d >> 23
        mant = d & 0x7FFFFF
        up = (mant > 0x400000) if exp_field == 0 else (mant != 0)
        return min(exp_field + up, 255)
    if rule == "even":
        a = (a + (1 << (23 - mbits - 1))) & (((1 << 9) - 1) << 23)
        if (a >> 23) == 255:
            return 255  # torchao reads the rounded amax as inf
    pow2 = ((a >> 23) & 0xFF) - 127
    s = max(-127, min(128, pow2 - EMAX[elem]))
    return s + 127


def torchao_mx(x, elem, rule):
    scales, codes = [], []
    for b in range(0, len(x), 32):
        blk = x[b:b + 32]
        amax = max((abs(v) for v in blk), default=0.0) if not any(math.isnan(v) for v in blk) else math.nan
        c = torchao_scale(amax, elem, rule)
        scales.append(c)
        for v in blk:
            if c == 255:
                codes.append(None)  # NaN block: the elements carry nothing
            else:
                codes.append(round_to_element(v * 2.0 ** (127 - c), elem))
    return scales, codes


# ---- NVFP4 chains in float32 -------------------------------------------------------------
def e4m3_rne_sat(v):
    return from_e4m3(round_to_element(float(v), "e4m3"))


def from_e4m3(code):
    e = (code >> 3) & 15
    m = code & 7
    return (m / 8.0) * 2.0 ** -6 if e == 0 else (1 + m / 8.0) * 2.0 ** (e - 7)


def nvfp4(x, chain):
    finite = [abs(v) for v in x if math.isfinite(v)]
    A = F32(max(finite) if finite else 0.0)
    flt_max = F32(np.finfo(np.float32).max)
    scales, codes = [], []
    if chain == "transformer_engine":
        with np.errstate(divide="ignore", over="ignore"):
            S = F32(2688.0) / A if A != 0 else F32(math.inf)
        S = min(S, flt_max)
        if A == 0 or S == 0:
            S = F32(1.0)
        tensor_scale = F32(1.0) / S
    else:
        t = F32(1.0) if A == 0 else F32(A / F32(2688.0))
        tensor_scale = t
    for b in range(0, len(x), 16):
        blk = x[b:b + 16]
        if any(not math.isfinite(v) for v in blk):
            scales.append(0x7F)
            codes += [0] * 16
            continue
        a = F32(max(abs(v) for v in blk))
        if chain == "transformer_engine":
            bd = F32(a * F32(S * F32(1.0 / 6.0)))
            bd = min(bd, F32(448.0))
            d = F32(e4m3_rne_sat(bd))
            with np.errstate(divide="ignore"):
                c = F32(F32(1.0) / F32(d * F32(F32(1.0) / S)))
            c = min(c, flt_max)
        else:
            bs = F32(F32(a / F32(6.0)) / t)
            bs = min(max(bs, F32(2.0 ** -6)), F32(448.0))
            d = F32(e4m3_rne_sat(bs))
            c = F32(F32(F32(1.0) / t) / d)
        scales.append(round_to_element(float(d), "e4m3"))
        for v in blk:
            codes.append(round_to_element(float(F32(F32(v) * c)), "e2m1"))
    packed = [codes[i] | (codes[i + 1] << 4) for i in range(0, len(codes), 2)]
    return tensor_scale, scales, packed


# ---- microxcaling ------------------------------------------------------------------------
def exact_floor_scale(amax, emax):
    if amax == 0:
        return -127
    return max(-127, min(127, math.frexp(amax)[1] - 1 - emax))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.path.insert(0, sys.argv[1])
    pkg = types.ModuleType("mx")
    pkg.__path__ = [sys.argv[1] + "/mx"]
    sys.modules["mx"] = pkg
    import torch
    from mx.formats import ElemFormat
    from mx.mx_ops import _quantize_mx

    x = make_input()
    print("# fewbits block-format golden vectors: scripts/block_format_vectors.py (see its docstring)")
    print("# microxcaling mx/ (github.com/microsoft/microxcaling), torch " + torch.__version__)
    print("input " + " ".join("%08x" % bits(v) for v in x))
    mx_elems = {"e4m3": ElemFormat.fp8_e4m3, "e5m2": ElemFormat.fp8_e5m2, "e3m2": ElemFormat.fp6_e3m2,
                "e2m3": ElemFormat.fp6_e2m3, "e2m1": ElemFormat.fp4, "int8": ElemFormat.int8}
    emax = dict(EMAX, int8=0)
    A = torch.tensor([x], dtype=torch.float32)
    for elem, fmt in mx_elems.items():
        for rnd in ("even", "nearest", "floor"):
            out = _quantize_mx(A, 8, fmt, axes=[-1], block_size=32, round=rnd)[0].tolist()
            words = []
            for b in range(0, len(x), 32):
                blk = x[b:b + 32]
                finite = all(math.isfinite(v) for v in blk)
                amax = max(abs(v) for v in blk) if finite else 0.0
                # microxcaling's floor(log2(amax)) in float32 against the exact exponent
                se = torch.floor(torch.log2(torch.tensor(amax if amax else 2.0 ** -126, dtype=torch.float32))).item()
                ok = not finite or amax == 0 or max(-127, min(127, int(se) - emax[elem])) == exact_floor_scale(amax, emax[elem])
                if not ok:
                    print("microxcaling %s block %d: log2 exponent differs from the exact one" % (elem, b // 32),
                          file=sys.stderr)
                words += ["%08x" % bits(v) if ok else "skip" for v in out[b:b + 32]]
            print("mx microxcaling %s %s %s" % (elem, rnd, " ".join(words)))
    for elem in ELEMS:
        for rule in ("floor", "rceil", "even"):
            scales, codes = torchao_mx(x, elem, rule)
            print("mx torchao %s %s %s | %s" % (elem, rule, " ".join("%02x" % s for s in scales),
                                                " ".join("--" if c is None else "%02x" % c for c in codes)))
    # NVFP4 on the input without its huge block (block 8), which would leave every other block's
    # E4M3 scale at zero.
    xn = x[:8 * 32] + x[9 * 32:]
    print("nvfp4_input " + " ".join("%08x" % bits(v) for v in xn))
    for chain in ("transformer_engine", "torchao"):
        with np.errstate(over="ignore"):
            t, scales, packed = nvfp4(xn, chain)
        print("nvfp4 %s %08x %s | %s" % (chain, bits(t), " ".join("%02x" % s for s in scales),
                                         " ".join("%02x" % p for p in packed)))


if __name__ == "__main__":
    main()
