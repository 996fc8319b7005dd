#!/usr/bin/env python3
"""Regenerates the chat-template fixtures in this folder (needs jinja2; gguf for --models).

- smollm2-135m.jinja: tokenizer.chat_template of ~/.cache/tern/models/smollm2-135m.gguf,
  byte for byte (with --models). gemma3-270m.gguf carries no tokenizer.chat_template, so
  gemma3.jinja is Gemma 3's instruct template (google/gemma-3-*-it tokenizer_config.json).
- The other *.jinja files are short representative templates of each family.
- conversations.tsv: the test conversations, one message per line:
  conversation<TAB>role<TAB>content (content with \\n for newlines).
- expected/TEMPLATE.CONVERSATION.{gen,nogen}.txt: the template rendered by jinja2 the way
  transformers' apply_chat_template does it (trim_blocks, lstrip_blocks), with the leading
  BOS token the template writes removed (tern leaves BOS to the tokenizer).
"""
import argparse
import os
import sys

import jinja2
import jinja2.sandbox

HERE = os.path.dirname(os.path.abspath(__file__))

CONVERSATIONS = {
    "single": [("user", "Hello!")],
    "system": [("system", "You are terse."), ("user", "What is 2+2?")],
    "turn1": [("user", "Hi"), ("assistant", " Hello there! ")],
    "multi": [("user", "Hi"), ("assistant", " Hello there! "), ("user", "Tell me a joke.")],
    "multi_system": [("system", "You are terse."), ("user", "Hi"), ("assistant", "Hello."),
                     ("user", "Line one\nline two")],
}

# template file stem -> (bos, eos, conversations it supports)
ALL = list(CONVERSATIONS)
NO_SYSTEM = [c for c in ALL if not any(r == "system" for r, _ in CONVERSATIONS[c])]
TEMPLATES = {
    "smollm2-135m": ("<|im_start|>", "<|im_end|>", ALL),
    "chatml": ("<s>", "</s>", ALL),
    "qwen2.5": ("", "<|im_end|>", ALL),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", ALL),
    "llama2": ("<s>", "</s>", ALL),
    "mistral": ("<s>", "</s>", NO_SYSTEM),
    "gemma3": ("<bos>", "<eos>", ALL),
    "phi3": ("<s>", "<|endoftext|>", ALL),
    "deepseek": ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", ALL),
}


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def render(source, bos, eos, messages, gen):
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    text = env.from_string(source).render(
        messages=[{"role": r, "content": c} for r, c in messages], bos_token=bos,
        eos_token=eos, add_generation_prompt=gen)
    # Only a BOS the template itself writes is removed (SmolLM2's BOS is <|im_start|>, which
    # its template writes as a turn marker, not as bos_token).
    writes_bos = "bos_token" in source and bos and text.startswith(bos)
    return text[len(bos):] if writes_bos else text


def extract_model_template():
    from gguf import GGUFReader
    models = os.environ.get("TERN_MODELS", os.path.expanduser("~/.cache/tern/models"))
    field = GGUFReader(os.path.join(models, "smollm2-135m.gguf")).fields["tokenizer.chat_template"]
    with open(os.path.join(HERE, "smollm2-135m.jinja"), "wb") as f:
        f.write(bytes(field.parts[field.data[0]]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", action="store_true", help="re-extract from the real models")
    if parser.parse_args().models:
        extract_model_template()
    with open(os.path.join(HERE, "conversations.tsv"), "w", encoding="utf-8", newline="\n") as f:
        for name, messages in CONVERSATIONS.items():
            for role, content in messages:
                f.write(f"{name}\t{role}\t{content.replace(chr(10), chr(92) + 'n')}\n")
    os.makedirs(os.path.join(HERE, "expected"), exist_ok=True)
    for stem, (bos, eos, conversations) in TEMPLATES.items():
        with open(os.path.join(HERE, stem + ".jinja"), encoding="utf-8") as f:
            source = f.read()
        for conv in conversations:
            for gen in (True, False):
                text = render(source, bos, eos, CONVERSATIONS[conv], gen)
                path = os.path.join(HERE, "expected", f"{stem}.{conv}.{'gen' if gen else 'nogen'}.txt")
                with open(path, "w", encoding="utf-8", newline="") as f:
                    f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
