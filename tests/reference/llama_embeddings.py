#!/usr/bin/env python3
"""Reference embeddings of a llama-architecture GGUF model, independent of tern: the
weights dequantized by the gguf package, the forward pass in float64 numpy (RMS norm,
adjacent-pair RoPE as GGUF llama files store q/k, grouped-query causal attention,
SwiGLU), the final norm's rows pooled by mean and by last token and scaled to unit length.

    tests/reference/llama_embeddings.py MODEL.gguf "ID ID ..." OUT.txt

OUT.txt gets two lines, "mean v0 v1 ..." and "last v0 v1 ...", which
tests/test_embeddings.cpp compares with tern's (cosine similarity)."""
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize


def main():
    path, ids, out = sys.argv[1], [int(t) for t in sys.argv[2].split()], sys.argv[3]
    reader = GGUFReader(path)

    def key(name):
        field = reader.fields[name]
        return field.parts[field.data[0]][0]

    tensors = {t.name: t for t in reader.tensors}

    def weight(name):
        t = tensors[name]
        return dequantize(t.data, t.tensor_type).astype(np.float64).reshape(
            [int(d) for d in reversed(t.shape)])

    n_head, n_head_kv = int(key("llama.attention.head_count")), int(key("llama.attention.head_count_kv"))
    n_layer, eps = int(key("llama.block_count")), float(key("llama.attention.layer_norm_rms_epsilon"))
    base = float(key("llama.rope.freq_base"))

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w

    def rope(x):  # x [n, heads, d]: pairs (2i, 2i+1) rotated by pos * base^(-2i/d)
        n, _, d = x.shape
        theta = np.arange(n)[:, None] * base ** (-np.arange(0, d, 2) / d)[None, :]
        cos, sin = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        a, b = x[..., 0::2], x[..., 1::2]
        y = np.empty_like(x)
        y[..., 0::2], y[..., 1::2] = a * cos - b * sin, a * sin + b * cos
        return y

    x = weight("token_embd.weight")[ids]
    n = len(ids)
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for il in range(n_layer):
        p = f"blk.{il}."
        h = rms(x, weight(p + "attn_norm.weight"))
        q = (h @ weight(p + "attn_q.weight").T).reshape(n, n_head, -1)
        k = (h @ weight(p + "attn_k.weight").T).reshape(n, n_head_kv, -1)
        v = (h @ weight(p + "attn_v.weight").T).reshape(n, n_head_kv, -1)
        q, k = rope(q), rope(k)
        group = n_head // n_head_kv
        k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(q.shape[-1]) + mask
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", scores, v).reshape(n, -1)
        x = x + attn @ weight(p + "attn_output.weight").T
        h = rms(x, weight(p + "ffn_norm.weight"))
        gate, up = h @ weight(p + "ffn_gate.weight").T, h @ weight(p + "ffn_up.weight").T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ weight(p + "ffn_down.weight").T
    hidden = rms(x, weight("output_norm.weight"))
    with open(out, "w") as f:
        for name, v in (("mean", hidden.mean(0)), ("last", hidden[-1])):
            v = v / np.linalg.norm(v)
            f.write(name + " " + " ".join(f"{e:.9g}" for e in v) + "\n")


if __name__ == "__main__":
    main()
