"""The real vLLM engine (CPU build) on the tiny test model: one engine start for the whole test."""

import os
import time

import pytest

from conftest import MODELS, W

MODEL = os.path.join(MODELS, "tiny-llama")
CONFIG = {"enforce_eager": True, "max_model_len": 1024, "kv_cache_memory_bytes": 67108864}


def group_members(pgid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                data = open("/proc/%s/stat" % name, "rb").read()
                fields = data[data.rindex(b")") + 2:].split()
                if int(fields[2]) == pgid and fields[0] != b"Z":  # zombies hold nothing
                    out.append(int(name))
            except (OSError, ValueError):
                pass
    return out


@pytest.mark.skipif(not os.path.isdir(MODEL), reason="tiny model missing: run scripts/make-tiny-model.sh first "
                                                     "(writes .cache/models/tiny-llama)")
def test_real_vllm_engine(supervisor):
    s = supervisor(timeout=180, env={"HF_HUB_OFFLINE": "1"})
    hello = s.recv()
    assert hello["vllm"] and hello["torch"]
    s.send({"type": "init", "engine": "vllm", "model": MODEL, "vllm_config": dict(CONFIG, model="ignored"),
            "mock": {}, "processor": None, "seed": 0, "send_token_ids": True})
    r = s.recv(timeout=180)
    assert r["type"] == "ready", r
    assert r["engine"] == "vllm" and r["model"] == MODEL and r["device"] == "cpu"
    assert r["max_model_len"] == 1024 and r["vocab_size"] == 500
    assert r["bos_token_id"] == 0 and r["add_bos"] is False and r["chat_template"] is True
    assert r["engine_start_ns"] > 0
    c = r["config"]
    assert c["enforce_eager"] is True and c["kv_cache_memory_bytes"] == 67108864 and c["dtype"] == "bfloat16"
    assert c["max_model_len"] == 1024 and c["block_size"] > 0 and c["max_num_seqs"] > 0
    assert c["max_num_batched_tokens"] > 0 and c["kv_cache_size_tokens"] > 0
    assert any("ignored" in w for w in r["warnings"])

    # the engine's own tokenizer serves tokenize and frame_prompt
    s.send({"type": "tokenize", "id": 100, "texts": ["hello world"], "add_special_tokens": True})
    assert s.recv()["type"] == "tokenized"
    s.send({"type": "frame_prompt", "id": 101, "format": "default-template", "template": None, "system": None})
    f = s.recv()
    assert f["type"] == "framed" and f["prefix_ids"] and f["suffix_ids"]

    # two requests of 64 prompt tokens, 32 output tokens each
    for rid in (1, 2):
        s.send({"type": "generate", "id": rid, "prompt_token_ids": [(rid * 7 + k) % 400 + 10 for k in range(64)],
                "max_tokens": 32, "ignore_eos": True, "sampling": {"temperature": 0.0}})
    items = {1: [], 2: []}
    left = {1, 2}
    while left:
        m = s.recv(timeout=60)
        assert m["type"] == "outputs", m
        for it in m["items"]:
            items[it["id"]].append(it)
            if it["finish"]:
                left.discard(it["id"])
    for rid, its in items.items():
        assert sum(i["n"] for i in its) == 32
        assert all(len(i["token_ids"]) == i["n"] for i in its)
        last, first = its[-1], its[0]
        assert last["finish"] == "length" and last["prompt_tokens"] == 64
        assert last["cached_tokens"] is not None
        e = last["engine"]
        chain = [first["received_ns"], first["submitted_ns"], e["queued_ns"], e["scheduled_ns"],
                 e["first_token_ns"], first["t_ns"]]
        assert chain == sorted(chain), chain
        assert e["first_token_ns"] <= e["last_token_ns"] <= last["t_ns"]
        assert e["preemptions"] == 0

    # vLLM's stat logger hook reported the engine's steps (set aside by recv: see conftest)
    steps = [p["steps"] for p in s.progress]
    assert steps and steps[0] >= 1 and all(a < b for a, b in zip(steps, steps[1:])), steps

    # vLLM's stat logger hook (standing in for its Prometheus logger) fed the telemetry
    s.send({"type": "stats", "id": 50})
    st = s.recv_type("stats_report", timeout=30, collect=[])
    assert st["id"] == 50 and st["telemetry"], st
    assert max(t[1] for t in st["telemetry"]) >= 1, st["telemetry"]  # [t_ns, running, waiting, ...]
    # and summed the engine's own counters: both 64-token prompts prefilled, no speculation
    c = st["engine_counters"]
    assert c["prompt_tokens"] == 128 and c["preemptions"] == 0 and c["spec_decoding"] is None, c
    assert c["prompt_tokens_computed"] + c["prompt_tokens_cached"] + c["prompt_tokens_external"] == 128, c
    assert last["stop_reason"] is None  # ended by max_tokens

    # a prompt that does not fit fails alone
    s.send({"type": "generate", "id": 3, "prompt_token_ids": [5] * 1100, "max_tokens": 4, "ignore_eos": True,
            "sampling": {}})
    m = s.recv(timeout=30)
    assert m["type"] == "failed" and m["id"] == 3 and m["error"]

    # a stop token ends a request with vLLM's stop_reason: the token id (greedy, so the same
    # prompt yields the same tokens; the first token seen for the first time after the start)
    def run_one(rid, sampling, max_tokens):
        s.send({"type": "generate", "id": rid, "prompt_token_ids": [11 + k % 50 for k in range(40)],
                "max_tokens": max_tokens, "ignore_eos": True, "return_token_ids": True, "sampling": sampling})
        ids = []
        while True:
            m = s.recv(timeout=60)
            for it in m["items"]:
                ids += it.get("token_ids") or []
                if it["finish"]:
                    return it, ids
    _, free = run_one(8, {"temperature": 0}, 12)
    k = next(i for i in range(1, len(free)) if free[i] not in free[:i])
    last, ids = run_one(9, {"temperature": 0, "stop_token_ids": [free[k]]}, 12)
    assert last["finish"] == "stop" and last["stop_reason"] == free[k], (last, free, ids)
    assert ids == free[:k + 1], (free, ids)  # a stop token id is part of the output

    # a staged request (its SamplingParams and prompt built ahead, started by its go) runs as
    # its generate would: the same tokens, the stop token honoured; received_ns is the go's read
    s.send({"type": "stage", "id": 10, "prompt_token_ids": [11 + k % 50 for k in range(40)], "max_tokens": 12,
            "ignore_eos": True, "return_token_ids": True, "sampling": {"temperature": 0, "stop_token_ids": [free[k]]}})
    time.sleep(0.05)
    before = time.monotonic_ns()
    s.send({"type": "go", "id": 10})
    staged, first = [], None
    while True:
        m = s.recv(timeout=60)
        assert m["type"] == "outputs", m
        it = m["items"][0]
        first = first or it
        staged += it.get("token_ids") or []
        if it["finish"]:
            break
    assert it["finish"] == "stop" and staged == free[:k + 1], (it, staged, free)
    assert before <= first["received_ns"] <= first["submitted_ns"] <= first["t_ns"]

    # an abort that arrives before the request produced anything ends it in the worker
    s.send_raw(W.pack_frame({"type": "generate", "id": 7, "prompt_token_ids": [9] * 32, "max_tokens": 500,
                             "ignore_eos": True, "sampling": {}}) + W.pack_frame({"type": "abort", "ids": [7]}))
    m = s.recv(timeout=30)
    assert m["type"] == "outputs" and len(m["items"]) == 1, m
    it = m["items"][0]
    assert it["id"] == 7 and it["finish"] == "abort" and it["n"] == 0 and it["engine"] is None
    assert it["prompt_tokens"] == 32 and it["received_ns"] <= it["submitted_ns"] <= it["t_ns"]

    # abort one streaming request, then reset with another in flight (max_tokens nil: up to the context)
    for rid in (4, 5):
        s.send({"type": "generate", "id": rid, "prompt_token_ids": [20] * 16, "max_tokens": None,
                "ignore_eos": True, "sampling": {}})
    seen = set()
    while seen != {4, 5}:
        for it in s.recv(timeout=30)["items"]:
            assert it["finish"] is None, "stopped early: %r" % it
            seen.add(it["id"])
    s.send({"type": "abort", "ids": [4]})
    s.send({"type": "reset", "id": 6})
    finish = {}
    while True:
        m = s.recv(timeout=60)
        if m["type"] == "reset_done":
            assert m["id"] == 6 and m["attempts"] >= 1
            break
        for it in m["items"]:
            if it["finish"]:
                finish[it["id"]] = it
    assert set(finish) == {4, 5} and all(it["finish"] == "abort" for it in finish.values())
    assert finish[4]["engine"]["scheduled_ns"] is not None

    # vllm_python_batch on the same engine: three requests in micro-batches of two, not streamed
    # (RequestOutputKind.FINAL_ONLY): one item each with every token and vLLM's stamps; the
    # second batch reaches the engine after the first has ended
    for rid in (11, 12, 13):
        s.send({"type": "generate", "id": rid, "prompt_token_ids": [30 + rid] * 24, "max_tokens": 10,
                "ignore_eos": True, "return_token_ids": True, "sampling": {},
                "batch_size": 2, "batch_timeout_ns": 20_000_000})
    got = {}
    while len(got) < 3:
        m = s.recv(timeout=60)
        for it in m["items"]:
            assert it["id"] not in got and it["finish"] == "length", it
            got[it["id"]] = it
    for it in got.values():
        assert it["n"] == 10 and len(it["token_ids"]) == 10 and it["prompt_tokens"] == 24
        e = it["engine"]
        assert it["submitted_ns"] <= e["queued_ns"] <= e["scheduled_ns"] <= e["first_token_ns"]
        assert e["first_token_ns"] < e["last_token_ns"] <= it["t_ns"]
    assert got[13]["submitted_ns"] >= max(got[11]["t_ns"], got[12]["t_ns"])

    pgid = s.proc.pid
    assert len(group_members(pgid)) >= 2  # the front end and vLLM's EngineCore
    s.send({"type": "shutdown"})
    m = s.recv_type("bye", timeout=60, collect=[])
    assert m == {"type": "bye"}
    assert s.wait(30) == 0
    deadline = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert group_members(pgid) == []
