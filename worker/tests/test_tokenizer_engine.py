"""The tokenizer-only engine on the tiny test models: tokenize, frame_prompt, BOS handling."""

import json
import os
import shutil

import pytest

from conftest import MODELS, W

LLAMA = os.path.join(MODELS, "tiny-llama")
LLAMA_BOS = os.path.join(MODELS, "tiny-llama-bos")

needs_models = pytest.mark.skipif(
    not (os.path.isdir(LLAMA) and os.path.isdir(LLAMA_BOS)),
    reason="tiny models missing: build them with scripts/make-tiny-model.sh (writes .cache/models)",
)


def start(supervisor, model, vllm_config=None, processor=None):
    s = supervisor(timeout=60)
    assert s.recv()["type"] == "hello"
    s.send({"type": "init", "engine": "tokenizer", "model": model, "vllm_config": vllm_config or {}, "mock": {},
            "processor": processor, "seed": 0})
    return s, s.recv(timeout=60)


def ask(s, msg):
    s.send(msg)
    return s.recv(timeout=30)


def whole(s, text, system=None, rid=99):
    """Tokenize a rendered chat prompt in one piece (to compare with the framed pieces)."""
    return ask(s, {"type": "tokenize", "id": rid, "texts": [text], "add_special_tokens": False})["token_ids"][0]


@needs_models
def test_tiny_llama_no_bos(supervisor):
    s, r = start(supervisor, LLAMA)
    assert r["type"] == "ready" and r["engine"] == "tokenizer" and r["device"] == "none"
    assert r["max_model_len"] == 2048 and r["vocab_size"] == 500
    assert r["add_bos"] is False and r["chat_template"] is True
    m = ask(s, {"type": "tokenize", "id": 1, "texts": ["hello world", ""], "add_special_tokens": True})
    assert m["type"] == "tokenized" and m["id"] == 1 and len(m["token_ids"]) == 2 and m["token_ids"][1] == []
    assert ask(s, {"type": "frame_prompt", "id": 2, "format": "plain", "template": None, "system": None}) == {
        "type": "framed", "id": 2, "prefix_ids": [], "suffix_ids": [], "turn_ids": [], "turn_note": None}
    f = ask(s, {"type": "frame_prompt", "id": 3, "format": "default-template", "template": None,
                "system": "be brief"})
    assert f["type"] == "framed" and f["prefix_ids"] and f["suffix_ids"]
    content = ask(s, {"type": "tokenize", "id": 4, "texts": ["hello world"], "add_special_tokens": False})
    rendered = ("<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhello world<|im_end|>\n"
                "<|im_start|>assistant\n")
    # prefix + content + suffix is exactly the rendered prompt's tokens
    assert f["prefix_ids"] + content["token_ids"][0] + f["suffix_ids"] == whole(s, rendered)
    # a later turn: after the reply, the template closes it and opens the next user message
    assert f["turn_note"] is None
    assert f["turn_ids"] == whole(s, "<|im_end|>\n<|im_start|>user\n")
    j = ask(s, {"type": "frame_prompt", "id": 5, "format": "jinja", "system": None,
                "template": "[{{ messages[0]['content'] }}]{% if add_generation_prompt %}<|im_start|>{% endif %}"})
    assert j["type"] == "framed"
    assert j["prefix_ids"] == whole(s, "[") and j["suffix_ids"] == whole(s, "]<|im_start|>")
    bad = ask(s, {"type": "frame_prompt", "id": 6, "format": "jinja", "system": None, "template": "no content"})
    assert bad["type"] == "error" and bad["user_error"] is True and "0 times" in bad["error"]


@needs_models
def test_tiny_llama_bos(supervisor):
    s, r = start(supervisor, LLAMA_BOS, vllm_config={"max_model_len": 512})
    assert r["max_model_len"] == 512
    assert r["add_bos"] is True and r["bos_token_id"] is not None
    bos = r["bos_token_id"]
    assert ask(s, {"type": "frame_prompt", "id": 1, "format": "plain", "template": None, "system": None})[
        "prefix_ids"] == [bos]
    m = ask(s, {"type": "tokenize", "id": 2, "texts": ["a"], "add_special_tokens": True})
    assert m["token_ids"][0][0] == bos
    # the template writes BOS itself; framing must not add a second one
    f = ask(s, {"type": "frame_prompt", "id": 3, "format": "default-template", "template": None, "system": None})
    assert f["prefix_ids"][0] == bos and f["prefix_ids"].count(bos) == 1


@needs_models
def test_model_without_chat_template(supervisor, tmp_path):
    d = tmp_path / "no-template"
    d.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(LLAMA, name), d / name)
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    s, r = start(supervisor, str(d))
    assert r["type"] == "ready" and r["chat_template"] is False
    m = ask(s, {"type": "frame_prompt", "id": 1, "format": "default-template", "template": None, "system": None})
    assert m["type"] == "error" and m["id"] == 1 and m["user_error"] is True
    assert "--request-format plain" in m["error"]


def test_tokenizer_engine_missing_model(supervisor, tmp_path):
    s, r = start(supervisor, str(tmp_path / "absent"))
    assert r["type"] == "fatal" and r["kind"] == "model_missing" and r["user_error"] is True


@needs_models
def test_mock_with_real_tokenizer(supervisor):
    s = supervisor(timeout=60)
    s.recv()
    s.send({"type": "init", "engine": "mock", "model": LLAMA_BOS, "vllm_config": {}, "mock": {}, "processor": None,
            "seed": 0})
    r = s.recv(timeout=60)
    assert r["type"] == "ready" and r["add_bos"] is True and r["vocab_size"] == 500
    assert r["config"]["tokenizer"] == LLAMA_BOS


class _ReasoningTemplate:
    """A chat template that drops earlier replies' <think>…</think>, as Qwen3's does."""

    chat_template = "x"
    bos_token_id = None

    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]

    def __len__(self):
        return 256

    def apply_chat_template(self, msgs, tokenize=False, add_generation_prompt=True, chat_template=None):
        out = ""
        for m in msgs:
            c = m["content"]
            if m["role"] == "assistant" and self.strip and "</think>" in c:
                c = c.split("</think>")[-1].lstrip("\n")
            out += "<%s>%s</%s>" % (m["role"], c, m["role"])
        return out + "<assistant>"


def test_turn_frame_and_a_template_that_rewrites_history():
    t = _ReasoningTemplate()
    t.strip = False
    frame, note = W.HFTokenizer(t, "t").turn_frame("default-template", None, None)
    assert frame == [ord(c) for c in "</assistant><user>"] and note is None
    t.strip = True
    frame, note = W.HFTokenizer(t, "t").turn_frame("default-template", None, None)
    assert frame == [ord(c) for c in "</assistant><user>"]
    assert "drops an earlier reply's reasoning" in note
    assert W.HFTokenizer(t, "t").turn_frame("plain", None, None) == ([], None)
