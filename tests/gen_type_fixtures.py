#!/usr/bin/env python3
"""Writes the tensor-type fixtures under tests/data/types/ (run from the repository root:
`python3 tests/gen_type_fixtures.py`). The C++ test (tests/test_types.cpp) reads them; it
never runs Python.

References: the `gguf` package (gguf.quants.dequantize / quantize). gguf cannot decode
Q8_1 or Q8_K, so for those two this script decodes with numpy directly (x = d * q).

File format, one file per type, `NAME.bin`, all little-endian:
    char[4]  magic "TTFX"
    u32      version (1)
    u32      type id (GGUF numbering)
    u32      n_dequant: values in the dequantize section (0 = none)
    u32      n_quant:   values in the quantize section (0 = gguf cannot quantize this type)
    dequantize section: the blocks (n_dequant / block_size * block_bytes bytes), then the
                        reference float32[n_dequant]
    quantize section:   input float32[n_quant], then the reference quantized bytes
                        (n_quant / block_size * block_bytes bytes)

Dequantize blocks are random bytes with every fp16 scale field overwritten by a sane
finite value (random sign, magnitude 2^-10..2^2), except the last blocks, whose scale
fields are all set to one extreme each: +0, -0, 65504, the smallest subnormal, +inf, NaN.
(MXFP4 uses its E8M0 exponent byte instead; Q8_K its float32 scale.)
Quantize inputs are Gaussian blocks of varied scale plus edge blocks (all zero, constant,
one outlier, all negative, tiny, large).
"""
import pathlib
import struct

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType as Q
from gguf import quants

OUT = pathlib.Path(__file__).resolve().parent / "data" / "types"
RNG = np.random.default_rng(20240601)

# Byte offsets of the fp16 scale fields inside one block ("iq1m" and "e8m0" and "f32" are
# handled specially).
F16_FIELDS = {
    Q.Q4_0: [0], Q.Q4_1: [0, 2], Q.Q5_0: [0], Q.Q5_1: [0, 2], Q.Q8_0: [0], Q.Q8_1: [0, 2],
    Q.Q2_K: [80, 82], Q.Q3_K: [108], Q.Q4_K: [0, 2], Q.Q5_K: [0, 2], Q.Q6_K: [208],
    Q.Q8_K: "f32", Q.IQ2_XXS: [0], Q.IQ2_XS: [0], Q.IQ2_S: [0], Q.IQ3_XXS: [0], Q.IQ3_S: [0],
    Q.IQ1_S: [0], Q.IQ1_M: "iq1m", Q.IQ4_NL: [0], Q.IQ4_XS: [0], Q.TQ1_0: [52], Q.TQ2_0: [64],
    Q.MXFP4: "e8m0",
}
# True block sizes; gguf-py lists Q8_1 as 40 bytes but ggml (and so GGUF files) use 36.
BLOCK_BYTES = {Q.Q8_1: 36}
QUANTIZABLE = [Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.TQ1_0, Q.TQ2_0, Q.MXFP4]

F16_EXTREMES = [0x0000, 0x8000, 0x7BFF, 0x0001, 0x7C00, 0x7E00]
F32_EXTREMES = [0.0, -0.0, 3.0e38, 1e-45, np.inf, np.nan]
E8M0_EXTREMES = [0, 1, 2, 127, 254, 255]


def geometry(qtype):
    block_size, block_bytes = GGML_QUANT_SIZES[qtype]
    return block_size, BLOCK_BYTES.get(qtype, block_bytes)


def sane_f16(n):
    mags = np.exp2(RNG.uniform(-10, 2, n)) * RNG.choice([-1.0, 1.0], n)
    return mags.astype(np.float16).view(np.uint16)


def set_scales(qtype, block, extreme):
    """Overwrites the scale field(s) of one block (a uint8 view) in place."""
    fields = F16_FIELDS[qtype]
    if fields == "e8m0":
        block[0] = RNG.integers(112, 136) if extreme is None else E8M0_EXTREMES[extreme]
    elif fields == "f32":
        value = RNG.uniform(1e-4, 1e-1) if extreme is None else F32_EXTREMES[extreme]
        block[0:4] = np.frombuffer(np.float32(value).tobytes(), np.uint8)
    elif fields == "iq1m":
        # The fp16 super-scale is the top nibbles of the 4 u16 words at offset 48.
        d = sane_f16(1)[0] if extreme is None else F16_EXTREMES[extreme]
        words = block[48:56].view(np.uint16)
        for k in range(4):
            words[k] = (words[k] & 0x0FFF) | (((int(d) >> (4 * k)) & 0xF) << 12)
    else:
        for off in fields:
            d = sane_f16(1)[0] if extreme is None else F16_EXTREMES[extreme]
            block[off:off + 2] = np.frombuffer(np.uint16(d).tobytes(), np.uint8)


def reference_dequant(qtype, raw):
    if qtype in (Q.Q8_1, Q.Q8_K):
        _, nbytes = geometry(qtype)
        blocks = raw.reshape(-1, nbytes)
        if qtype == Q.Q8_1:
            d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)
            q = blocks[:, 4:36].view(np.int8).astype(np.float32)
        else:
            d = blocks[:, 0:4].copy().view(np.float32)
            q = blocks[:, 4:260].view(np.int8).astype(np.float32)
        return (d * q).reshape(-1)
    return quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)


def dequant_section(qtype):
    block_size, nbytes = geometry(qtype)
    n_sane = 4 if block_size == 256 else 58
    n_blocks = n_sane + len(F16_EXTREMES)
    raw = RNG.integers(0, 256, n_blocks * nbytes, dtype=np.uint8)
    for i in range(n_blocks):
        set_scales(qtype, raw[i * nbytes:(i + 1) * nbytes], None if i < n_sane else i - n_sane)
    with np.errstate(all="ignore"):
        ref = reference_dequant(qtype, raw)
    assert ref.size == n_blocks * block_size
    return ref.size, raw.tobytes() + ref.astype("<f4").tobytes()


def quant_input(block_size, n_gauss):
    blocks = [RNG.normal(0, s, block_size) for s in np.exp2(RNG.uniform(-8, 4, n_gauss))]
    outlier = RNG.normal(0, 0.01, block_size)
    outlier[block_size // 3] = -7.5
    blocks += [np.zeros(block_size), np.full(block_size, 0.375), outlier,
               -np.abs(RNG.normal(0, 1, block_size)), RNG.normal(0, 1e-6, block_size),
               RNG.normal(0, 1e4, block_size)]
    return np.concatenate(blocks).astype(np.float32)


def quant_section(qtype):
    block_size, _ = geometry(qtype)
    x = quant_input(block_size, 4 if block_size == 256 else 42)
    q = np.asarray(quants.quantize(x, qtype)).view(np.uint8)
    return x.size, x.astype("<f4").tobytes() + q.tobytes()


def half_boundary_floats():
    """float32 inputs around F16 rounding boundaries: midpoints between consecutive halves,
    one float ulp either side, overflow edges, subnormals, specials and random floats."""
    h = RNG.choice(np.arange(0, 0x7BFF, dtype=np.uint16), 1024, replace=False)
    lo = h.view(np.float16).astype(np.float32)
    hi = (h + 1).view(np.float16).astype(np.float32)
    mid = (lo + hi) / 2  # exact in float32
    vals = [mid, np.nextafter(mid, np.float32(0)), np.nextafter(mid, np.float32(np.inf))]
    edges = np.array([65504, 65519.996, 65520, 1e6, 2.0**-24, 2.0**-25, 2.0**-25 * 1.0001,
                      2.0**-26, 6.1e-5, np.inf, np.nan, 0.0], np.float32)
    rand = (RNG.normal(0, 1, 1024) * np.exp2(RNG.uniform(-30, 20, 1024))).astype(np.float32)
    x = np.concatenate(vals + [edges, rand]).astype(np.float32)
    x = np.concatenate([x, -x])
    return x[: (x.size // 2) * 2]


def float_section(qtype):
    if qtype == Q.F16:
        x = half_boundary_floats()
        q = x.astype(np.float16).view(np.uint8)
    else:  # BF16: random floats, bf16 rounding midpoints, NaN payloads, infinities
        bits = RNG.integers(0, 2**32, 2048, dtype=np.uint64).astype(np.uint32)
        mids = (RNG.integers(0, 2**16, 512, dtype=np.uint64).astype(np.uint32) << 16) | 0x8000
        specials = np.array([0x7F800000, 0xFF800000, 0x7FC00001, 0x7F800001, 0xFFFFFFFF,
                             0x7F7FFFFF, 0x00000001], np.uint32)
        x = np.concatenate([bits, mids, specials]).view(np.float32)
        q = np.asarray(quants.quantize(x, qtype)).view(np.uint8)
    return x.size, x.astype("<f4").tobytes() + q.tobytes()


def write(qtype, n_dequant, dequant_bytes, n_quant, quant_bytes):
    header = b"TTFX" + struct.pack("<4I", 1, int(qtype), n_dequant, n_quant)
    (OUT / f"{qtype.name}.bin").write_bytes(header + dequant_bytes + quant_bytes)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for qtype in F16_FIELDS:
        n_d, d_bytes = dequant_section(qtype)
        n_q, q_bytes = quant_section(qtype) if qtype in QUANTIZABLE else (0, b"")
        write(qtype, n_d, d_bytes, n_q, q_bytes)
    for qtype in (Q.F16, Q.BF16):
        n_q, q_bytes = float_section(qtype)
        write(qtype, 0, b"", n_q, q_bytes)
    total = sum(p.stat().st_size for p in OUT.glob("*.bin"))
    print(f"wrote {len(list(OUT.glob('*.bin')))} fixtures, {total} bytes")


if __name__ == "__main__":
    main()
