#!/usr/bin/env python3
"""Build tiny, deterministic, random-weight models for llmbench's real-engine tests.

Usage: make-tiny-model.py [OUT_DIR]    (default: <repo>/.cache/models)

Run it with the vLLM venv's python (scripts/make-tiny-model.sh does). It writes three model
directories, each loadable offline by vLLM (CPU) and transformers:

  tiny-llama      LlamaForCausalLM; tokenizer adds no BOS; ChatML template without BOS.
  tiny-qwen3      Qwen3ForCausalLM; same tokenizer and template as tiny-llama.
  tiny-llama-bos  like tiny-llama, but the tokenizer ADDS <s> by itself (post-processor,
                  add_bos_token true) AND the chat template starts with {{ bos_token }}:
                  the double-BOS trap a benchmark tool must not fall into.

All models: hidden 128, intermediate 256, 2 layers, 4 heads, 2 KV heads, head_dim 32 (vLLM's CPU
attention rejects head size 16), bf16, max_position_embeddings 2048, vocab ~500 (byte-level BPE
trained on seeded synthetic sentences). Special tokens, in id order: <s>, </s>, <unk>, <pad>,
<|im_start|>, <|im_end|> (ids 0..5). Output text is gibberish; use ignore_eos for fixed lengths.

Deterministic (same bytes every run) and idempotent: a model directory holding the completion
marker is left alone; each model is built in a temporary directory and renamed into place, so a
crash never leaves a half-written model. Prints the output directory.
"""

import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

MARKER = ".llmbench-tiny-model"
# Bump when the recipe changes: directories built by an older recipe get rebuilt.
RECIPE_VERSION = "1"

SPECIAL_TOKENS = ["<s>", "</s>", "<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 500
SEED = 20240613

WORDS = """
the a an of to and in on at for with from by about over under after before between
model token request server engine cache batch prompt reply answer question stream queue
fast slow small large quick lazy bright dark warm cold green blue red yellow quiet loud
cat dog bird fish horse river mountain city village garden house window door table chair
run walk jump read write think speak listen build measure count wait send receive start stop
one two three four five six seven eight nine ten hundred thousand
today tomorrow yesterday morning evening night always never often sometimes
is was are were will can could should would may might must has have had do does did
hello world please thanks yes no maybe system user assistant
""".split()
PUNCT = [".", ".", ".", "?", "!", ","]


def sentences(n=3000):
    rng = random.Random(SEED)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 16))]
        if rng.random() < 0.3:
            words.insert(rng.randrange(len(words)), str(rng.randint(0, 2048)))
        s = " ".join(words)
        s = s[0].upper() + s[1:] + rng.choice(PUNCT)
        out.append(s)
    return out


def chat_template(with_bos):
    content = (
        "{%- if message['content'] is string %}{{ message['content'] }}"
        "{%- else %}{%- for part in message['content'] %}"
        "{%- if part['type'] == 'text' %}{{ part['text'] }}{%- endif %}"
        "{%- endfor %}{%- endif %}"
    )
    return (
        ("{{- bos_token }}" if with_bos else "")
        + "{%- for message in messages %}"
        + "{{- '<|im_start|>' + message['role'] + '\\n' }}"
        + content
        + "{{- '<|im_end|>\\n' }}"
        + "{%- endfor %}"
        + "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
    )


def train_tokenizer(add_bos):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(sentences(), trainer=trainer)
    bos_id = tok.token_to_id("<s>")
    if add_bos:
        tok.post_processor = processors.TemplateProcessing(
            single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1", special_tokens=[("<s>", bos_id)]
        )
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def write_tokenizer(d, add_bos, bos_in_template):
    from transformers import PreTrainedTokenizerFast

    raw = train_tokenizer(add_bos)
    template = chat_template(bos_in_template)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
        add_bos_token=add_bos,
        add_eos_token=False,
        model_max_length=2048,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = template
    fast.save_pretrained(str(d))
    # Older and newer transformers disagree on where the template lives (tokenizer_config.json vs
    # chat_template.jinja); put it in tokenizer_config.json as well, and pin the BOS behaviour.
    cfg_path = d / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["chat_template"] = template
    cfg["add_bos_token"] = add_bos
    cfg["add_eos_token"] = False
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    # transformers 5 writes "extra_special_tokens" as a list, which 4.x rejects (it wants a dict);
    # both read the older "additional_special_tokens" key.
    cfg.pop("extra_special_tokens", None)
    cfg["additional_special_tokens"] = ["<|im_start|>", "<|im_end|>"]
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    ids = {t: raw.token_to_id(t) for t in SPECIAL_TOKENS}
    return raw.get_vocab_size(), ids


def write_model(d, arch, vocab_size, ids):
    import torch
    import transformers

    common = dict(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=2048,
        rms_norm_eps=1e-6,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=ids["<s>"],
        eos_token_id=ids["</s>"],
        pad_token_id=ids["<pad>"],
    )
    if arch == "llama":
        config = transformers.LlamaConfig(**common)
        cls = transformers.LlamaForCausalLM
    else:
        config = transformers.Qwen3Config(**common)
        cls = transformers.Qwen3ForCausalLM
    config.torch_dtype = torch.bfloat16  # transformers 4.x name
    try:
        config.dtype = torch.bfloat16  # transformers 5.x name
    except Exception:
        pass
    torch.manual_seed(SEED)
    model = cls(config).to(torch.bfloat16).eval()
    # Small, seeded weights: keeps logits sane in bf16 without a real init scheme.
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight"):
                p.fill_(1.0)
            else:
                p.copy_((torch.randn(p.shape, generator=gen, dtype=torch.float32) * 0.02).to(p.dtype))
    model.generation_config.bos_token_id = ids["<s>"]
    model.generation_config.eos_token_id = ids["</s>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    model.save_pretrained(str(d), safe_serialization=True)


MODELS = {
    # name: (arch, tokenizer adds BOS, template writes BOS)
    "tiny-llama": ("llama", False, False),
    "tiny-qwen3": ("qwen3", False, False),
    "tiny-llama-bos": ("llama", True, True),
}


def build(out, name):
    arch, add_bos, bos_in_template = MODELS[name]
    final = out / name
    marker = final / MARKER
    if marker.is_file() and marker.read_text().strip() == RECIPE_VERSION:
        return
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out))
    try:
        vocab_size, ids = write_tokenizer(tmp, add_bos, bos_in_template)
        write_model(tmp, arch, vocab_size, ids)
        (tmp / MARKER).write_text(RECIPE_VERSION + "\n")
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main():
    repo = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[1] if len(sys.argv) > 1 else repo / ".cache" / "models").resolve()
    out.mkdir(parents=True, exist_ok=True)
    if all((out / n / MARKER).is_file() for n in MODELS):
        if all((out / n / MARKER).read_text().strip() == RECIPE_VERSION for n in MODELS):
            print(out)
            return
    import warnings

    warnings.filterwarnings("ignore")
    import transformers

    transformers.logging.set_verbosity_error()
    try:
        transformers.utils.logging.disable_progress_bar()
    except Exception:
        pass
    for name in MODELS:
        build(out, name)
    print(out)


if __name__ == "__main__":
    main()
