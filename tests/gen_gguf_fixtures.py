#!/usr/bin/env python3
"""Write what gguf-py's GGUFReader sees in each reference GGUF file, as JSON fixtures for
tests/test_gguf_crosscheck.cpp: header facts, every metadata key with its value type
(scalar values, and count/first/last item for arrays) and the tensor list (name, type,
shape, offset from the data section, bytes).

Usage: tests/gen_gguf_fixtures.py   (needs the `gguf` package and the two real models:
scripts/pull smollm2-135m gemma3-270m). Output: tests/data/gguf/*.json.
"""
import json
import os
import sys
from pathlib import Path

import gguf

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
OUT = ROOT / "tests" / "data" / "gguf"
MODELS = ["smollm2-135m", "gemma3-270m"]

# gguf-py's value types under the names tern prints (gguf::value_type_name).
TYPE_NAMES = {
    gguf.GGUFValueType.UINT8: "u8", gguf.GGUFValueType.INT8: "i8",
    gguf.GGUFValueType.UINT16: "u16", gguf.GGUFValueType.INT16: "i16",
    gguf.GGUFValueType.UINT32: "u32", gguf.GGUFValueType.INT32: "i32",
    gguf.GGUFValueType.FLOAT32: "f32", gguf.GGUFValueType.BOOL: "bool",
    gguf.GGUFValueType.STRING: "string", gguf.GGUFValueType.ARRAY: "array",
    gguf.GGUFValueType.UINT64: "u64", gguf.GGUFValueType.INT64: "i64",
    gguf.GGUFValueType.FLOAT64: "f64",
}


def models_dir() -> Path:
    return Path(os.environ.get("TERN_MODELS", Path.home() / ".cache" / "tern" / "models"))


def item(field, part_index: int, value_type):
    part = field.parts[part_index]
    if value_type == gguf.GGUFValueType.STRING:
        return bytes(part).decode("utf-8")
    value = part.tolist()[0]
    return bool(value) if value_type == gguf.GGUFValueType.BOOL else value


def metadata_entry(key: str, field) -> dict:
    # parts: key length, key bytes, value type, then the value's own parts
    value_type = gguf.GGUFValueType(int(field.parts[2][0]))
    entry = {"key": key, "type": TYPE_NAMES[value_type]}
    if value_type != gguf.GGUFValueType.ARRAY:
        entry["value"] = item(field, field.data[0], value_type)
        return entry
    element_type = gguf.GGUFValueType(int(field.parts[3][0]))
    entry["element_type"] = TYPE_NAMES[element_type]
    entry["count"] = int(field.parts[4][0])
    if entry["count"] > 0 and element_type != gguf.GGUFValueType.ARRAY:
        entry["first"] = item(field, field.data[0], element_type)
        entry["last"] = item(field, field.data[-1], element_type)
    return entry


def describe(path: Path, source: str) -> dict:
    reader = gguf.GGUFReader(path)
    metadata = [metadata_entry(k, f) for k, f in reader.fields.items() if not k.startswith("GGUF.")]
    tensors = [{
        "name": t.name,
        "type": t.tensor_type.name,
        "shape": [int(n) for n in t.shape],
        "offset": int(t.data_offset - reader.data_offset),
        "n_bytes": int(t.n_bytes),
    } for t in reader.tensors]
    return {
        "source": source,
        "size": path.stat().st_size,
        "version": int(reader.fields["GGUF.version"].parts[0][0]),
        "alignment": int(reader.alignment),
        "data_offset": int(reader.data_offset),
        "metadata": metadata,
        "tensors": tensors,
    }


def write(name: str, fixture: dict) -> None:
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(fixture, indent=1, ensure_ascii=True) + "\n")
    print(f"{path.relative_to(ROOT)}: {len(fixture['metadata'])} keys, {len(fixture['tensors'])} tensors")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for path in sorted(SHARED.rglob("*.gguf")):
        rel = path.relative_to(SHARED).as_posix()
        write("shared-" + rel.removesuffix(".gguf").replace("/", "-"), describe(path, "shared:" + rel))
    for name in MODELS:
        path = models_dir() / f"{name}.gguf"
        if not path.is_file():
            print(f"missing {path}: run scripts/pull {name}", file=sys.stderr)
            return 1
        write("model-" + name, describe(path, "model:" + name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
