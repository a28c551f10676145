"""The mock engine through a real socket: batching, counts, queueing, abort, reset, crash knobs."""

import os
import signal
import time

import pytest

from conftest import W


def start(supervisor, mock=None, seed=1, send_token_ids=False, model="mock-model", processor=None):
    s = supervisor()
    assert s.recv()["type"] == "hello"
    s.send({"type": "init", "engine": "mock", "model": model, "vllm_config": {}, "mock": mock or {},
            "processor": processor, "seed": seed, "send_token_ids": send_token_ids})
    ready = s.recv()
    assert ready["type"] == "ready", ready
    return s, ready


def gen(s, rid, n_prompt=4, max_tokens=8):
    s.send({"type": "generate", "id": rid, "prompt_token_ids": list(range(1, n_prompt + 1)), "max_tokens": max_tokens,
            "ignore_eos": True, "sampling": {}})


def collect(s, ids, timeout=20):
    """Read outputs until every id has finished; returns (frames, items by id)."""
    frames, by_id = [], {i: [] for i in ids}
    left = set(ids)
    deadline = time.monotonic() + timeout
    while left:
        m = s.recv(max(0.01, deadline - time.monotonic()))
        assert m["type"] == "outputs", m
        frames.append(m)
        for it in m["items"]:
            by_id.setdefault(it["id"], []).append(it)
            if it["finish"] is not None:
                left.discard(it["id"])
    return frames, by_id


def check_request(items, prompt_tokens, out_tokens, finish="length"):
    assert sum(i["n"] for i in items) == out_tokens
    assert [i["finish"] for i in items[:-1]] == [None] * (len(items) - 1)
    last = items[-1]
    assert last["finish"] == finish
    assert last["prompt_tokens"] == prompt_tokens and last["cached_tokens"] == 0
    first = items[0]
    assert first["received_ns"] <= first["submitted_ns"] <= first["t_ns"]
    assert all("received_ns" not in i for i in items[1:])
    e = last["engine"]
    assert e["queued_ns"] <= e["scheduled_ns"] <= e["first_token_ns"] <= e["last_token_ns"] <= last["t_ns"]
    assert e["preemptions"] == 0
    ts = [i["t_ns"] for i in items]
    assert ts == sorted(ts)


def test_ready_and_batched_outputs(supervisor):
    s, ready = start(supervisor, {"step_base_us": 2000, "vocab_size": 1000, "max_model_len": 512})
    assert ready["engine"] == "mock" and ready["model"] == "mock-model"
    assert ready["max_model_len"] == 512 and ready["vocab_size"] == 1000 and ready["device"] == "cpu"
    assert ready["config"]["step_base_us"] == 2000 and ready["config"]["tokenizer"] == "builtin"
    assert list(ready["config"]) == sorted(ready["config"])
    # five requests in one write: the worker reads them in one go, before the next step starts
    s.send_raw(b"".join(W.pack_frame({"type": "generate", "id": rid, "prompt_token_ids": list(range(1, 11)),
                                      "max_tokens": 6, "ignore_eos": True, "sampling": {}}) for rid in range(5)))
    frames, by_id = collect(s, range(5))
    for rid in range(5):
        check_request(by_id[rid], 10, 6)
        assert [i["n"] for i in by_id[rid]] == [1] * 6
        assert "token_ids" not in by_id[rid][0]
    # five requests sent back to back are served in the same steps: one frame per step
    assert len(frames) == 6
    assert all(len(f["items"]) == 5 for f in frames)
    s.send({"type": "shutdown"})
    assert s.recv() == {"type": "bye"}
    assert s.wait(10) == 0


def test_token_ids_tokens_per_step_and_determinism(supervisor):
    runs = []
    for _ in range(2):
        s, _ = start(supervisor, {"step_base_us": 300, "tokens_per_step": 4, "vocab_size": 100}, seed=9,
                     send_token_ids=True)
        gen(s, 7, max_tokens=10)
        _, by_id = collect(s, [7])
        items = by_id[7]
        assert [i["n"] for i in items] == [1, 4, 4, 1]
        assert all(len(i["token_ids"]) == i["n"] for i in items)
        ids = [t for i in items for t in i["token_ids"]]
        assert all(0 <= t < 100 for t in ids)
        runs.append(ids)
    assert runs[0] == runs[1]


def test_max_tokens_nil_uses_default_and_caps_at_context(supervisor):
    s, _ = start(supervisor, {"step_base_us": 0, "default_output_tokens": 20, "max_model_len": 30})
    s.send({"type": "generate", "id": 1, "prompt_token_ids": [5] * 4, "max_tokens": None, "ignore_eos": False,
            "sampling": {}})
    gen(s, 2, n_prompt=25, max_tokens=100)  # capped to 30 - 25
    gen(s, 3, n_prompt=30, max_tokens=1)  # does not fit
    s.send({"type": "generate", "id": 4, "prompt_token_ids": [], "max_tokens": 1, "ignore_eos": False,
            "sampling": {}})
    failed = {}
    frames, by_id = [], {1: [], 2: []}
    left = {1, 2}
    while left or len(failed) < 2:
        m = s.recv()
        if m["type"] == "failed":
            failed[m["id"]] = m["error"]
            continue
        for it in m["items"]:
            by_id[it["id"]].append(it)
            if it["finish"]:
                left.discard(it["id"])
    check_request(by_id[1], 4, 20)
    check_request(by_id[2], 25, 5)
    assert "max_model_len" in failed[3] and "empty" in failed[4]


def test_queueing_beyond_max_num_seqs(supervisor):
    s, _ = start(supervisor, {"step_base_us": 1000, "max_num_seqs": 2})
    s.send_raw(b"".join(W.pack_frame({"type": "generate", "id": rid, "prompt_token_ids": [1, 2, 3, 4],
                                      "max_tokens": 5, "ignore_eos": True, "sampling": {}}) for rid in range(4)))
    _, by_id = collect(s, range(4))
    e = {rid: by_id[rid][-1]["engine"] for rid in range(4)}
    for rid in range(4):
        check_request(by_id[rid], 4, 5)
    # requests 2 and 3 wait until 0 and 1 are done
    assert e[2]["scheduled_ns"] >= e[0]["last_token_ns"]
    assert e[3]["scheduled_ns"] >= e[1]["last_token_ns"]
    assert e[2]["scheduled_ns"] - e[2]["queued_ns"] >= 4_000_000


def test_chunked_prefill_and_step_cost(supervisor):
    # budget 100 tokens/step: a 250-token prompt needs 3 prefill steps of 2 ms + 10 us/token
    s, _ = start(supervisor, {"step_base_us": 1000, "max_num_batched_tokens": 100, "prefill_base_us": 1000,
                              "prefill_per_token_us": 10})
    gen(s, 1, n_prompt=250, max_tokens=3)
    _, by_id = collect(s, [1])
    check_request(by_id[1], 250, 3)
    e = by_id[1][-1]["engine"]
    ttft = e["first_token_ns"] - e["scheduled_ns"]
    # 3 steps: 3 x (1 ms + 1 ms) + 250 x 10 us = 8.5 ms
    assert 8.0e6 <= ttft < 30e6, ttft


def test_ttft_us_is_a_per_request_delay_that_costs_no_step_time(supervisor):
    # requests arriving 3 ms apart, prefill as a 5 ms delay: every first token comes 5 ms (rounded
    # up to a 1 ms step end) after submission, and the first request's 39 decode steps stay 1 ms
    # long while the later ones prefill (with prefill_base_us = 5000 as step time instead, each of
    # those prefills would stretch a step to 6 ms: about 80 ms)
    s, _ = start(supervisor, {"step_base_us": 1000, "ttft_us": 5000, "prefill_base_us": 5000})
    for rid in range(10):
        gen(s, rid, n_prompt=8, max_tokens=40)
        time.sleep(0.003)
    _, by_id = collect(s, range(10))
    for rid in range(10):
        check_request(by_id[rid], 8, 40)
        e = by_id[rid][-1]["engine"]
        ttft_ms = (e["first_token_ns"] - by_id[rid][0]["submitted_ns"]) / 1e6
        assert 5.0 <= ttft_ms < 5.0 + 1.0 + 15, ttft_ms
    e = by_id[0][-1]["engine"]
    span_ms = (e["last_token_ns"] - e["first_token_ns"]) / 1e6
    assert 39 - 5 <= span_ms < 39 * 1.05 + 15, span_ms


def test_step_deadlines_do_not_drift(supervisor):
    s, _ = start(supervisor, {"step_base_us": 1500})
    gen(s, 1, max_tokens=200)
    _, by_id = collect(s, [1])
    e = by_id[1][-1]["engine"]
    # 199 decode steps after the first token: 298.5 ms on absolute deadlines. The first token's
    # own wake-up may be late (a timer tick, a busy host), which the later steps do not repeat;
    # relative sleeps would add a timer tick to every step (about 400 ms here)
    span = (e["last_token_ns"] - e["first_token_ns"]) / 1e6
    assert 298.5 - 10 <= span < 298.5 * 1.05 + 10, span


def test_stalls_are_seeded(supervisor):
    def run():
        s, _ = start(supervisor, {"step_base_us": 200, "stall_every": 10, "stall_us": 60000}, seed=3)
        gen(s, 1, max_tokens=60)
        _, by_id = collect(s, [1])
        ts = [i["t_ns"] for i in by_id[1]]
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        return [i for i, g in enumerate(gaps) if g > 45e6]

    a = run()
    assert 4 <= len(a) <= 8
    assert a == run()


def test_abort_and_reset(supervisor):
    s, _ = start(supervisor, {"step_base_us": 2000})
    for rid in range(4):
        gen(s, rid, max_tokens=1000)
    # let them stream a little
    got = {}
    while len(got) < 4:
        for it in s.recv()["items"]:
            got.setdefault(it["id"], []).append(it)
    s.send({"type": "abort", "ids": [1, 99]})  # 99 is unknown: ignored
    while True:
        m = s.recv()
        done = [it for it in m["items"] if it["finish"]]
        if done:
            assert [it["id"] for it in done] == [1] and done[0]["finish"] == "abort"
            assert done[0]["engine"]["scheduled_ns"] is not None
            break
    s.send({"type": "reset", "id": 50})
    finished = []
    while True:
        m = s.recv()
        if m["type"] == "reset_done":
            assert m == {"type": "reset_done", "id": 50, "attempts": 1}
            break
        finished += [it["id"] for it in m["items"] if it["finish"] == "abort"]
    assert sorted(finished) == [0, 2, 3]
    # the engine still works after a reset, and an id can not be reused while in flight
    gen(s, 10, max_tokens=2)
    gen(s, 10, max_tokens=2)
    m = s.recv()
    assert m == {"type": "failed", "id": 10, "error": "request id 10 is already in flight"}
    _, by_id = collect(s, [10])
    check_request(by_id[10], 4, 2)


def test_abort_while_queued(supervisor):
    s, _ = start(supervisor, {"step_base_us": 2000, "max_num_seqs": 1})
    gen(s, 1, max_tokens=50)
    gen(s, 2, max_tokens=50)
    time.sleep(0.01)
    s.send({"type": "abort", "ids": [2]})
    while True:
        m = s.recv()
        fin = [it for it in m["items"] if it["finish"]]
        if fin:
            it = fin[0]
            assert it["id"] == 2 and it["finish"] == "abort" and it["n"] == 0
            assert it["received_ns"] <= it["submitted_ns"]  # first and last item at once
            assert it["engine"]["scheduled_ns"] is None and it["engine"]["first_token_ns"] is None
            break


def test_throughput_ceiling(supervisor):
    s, _ = start(supervisor, {"step_base_us": 0})
    n = 2000
    t0 = time.monotonic()
    blob = b"".join(W.pack_frame({"type": "generate", "id": i, "prompt_token_ids": [1, 2, 3], "max_tokens": 4,
                                  "ignore_eos": True, "sampling": {}}) for i in range(n))
    s.send_raw(blob)
    frames, by_id = collect(s, range(n), timeout=60)
    dt = time.monotonic() - t0
    assert sum(it["n"] for f in frames for it in f["items"]) == 4 * n
    assert n / dt > 1000, "mock served only %.0f requests/s" % (n / dt)


def test_exit_after_outputs(supervisor):
    s, _ = start(supervisor, {"step_base_us": 1000, "exit_after_outputs": 7})
    for rid in range(3):
        gen(s, rid, max_tokens=100)
    items = []
    try:
        while True:
            items += s.recv()["items"]
    except EOFError:
        pass
    assert len(items) == 7
    assert s.wait(10) == W.EXIT_MOCK_CRASH


def test_spawn_setsid_child(supervisor):
    s, ready = start(supervisor, {"spawn_setsid_child": True})
    pid = ready["config"]["setsid_child_pid"]
    try:
        assert os.getsid(pid) == pid and os.getpgid(pid) != s.proc.pid
        s.send({"type": "shutdown"})
        assert s.recv() == {"type": "bye"}
        assert s.wait(10) == 0
        os.kill(pid, 0)  # still alive: left for the supervisor's reaper
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_load_seconds(supervisor):
    s = supervisor()
    s.recv()
    t0 = time.monotonic()
    s.send({"type": "init", "engine": "mock", "model": "m", "vllm_config": {}, "mock": {"load_seconds": 0.3},
            "processor": None, "seed": 0})
    r = s.recv()
    assert r["type"] == "ready" and time.monotonic() - t0 >= 0.3 and r["engine_start_ns"] >= 300_000_000


def test_unknown_mock_key_is_fatal_user_error(supervisor):
    s = supervisor()
    s.recv()
    s.send({"type": "init", "engine": "mock", "model": "m", "vllm_config": {}, "mock": {"step_bse_us": 5},
            "processor": None, "seed": 0})
    m = s.recv()
    assert m["type"] == "fatal" and m["user_error"] is True
    assert "'step_bse_us'" in m["error"] and "'step_base_us'" in m["error"]
    assert s.wait(10) == W.EXIT_FATAL


def test_builtin_tokenizer(supervisor):
    s, ready = start(supervisor, {"add_bos": True, "bos_token_id": 1})
    assert ready["bos_token_id"] == 1 and ready["add_bos"] is True and ready["chat_template"] is True
    s.send({"type": "tokenize", "id": 1, "texts": ["a b c", ""], "add_special_tokens": True})
    m = s.recv()
    assert m["type"] == "tokenized" and m["id"] == 1
    assert len(m["token_ids"][0]) == 4 and m["token_ids"][0][0] == 1 and m["token_ids"][1] == [1]
    s.send({"type": "frame_prompt", "id": 2, "format": "plain", "template": None, "system": None})
    assert s.recv() == {"type": "framed", "id": 2, "prefix_ids": [1], "suffix_ids": [], "turn_ids": [],
                        "turn_note": None}
    s.send({"type": "frame_prompt", "id": 3, "format": "default-template", "template": None, "system": "x y"})
    m = s.recv()
    assert m["prefix_ids"][:2] == [1, 3] and len(m["prefix_ids"]) == 6 and m["suffix_ids"] == [4, 6]
    assert m["turn_ids"] == [4, 5] and m["turn_note"] is None
    s.send({"type": "frame_prompt", "id": 4, "format": "jinja", "template": "{{ x }}", "system": None})
    m = s.recv()
    assert m["type"] == "error" and m["id"] == 4 and m["user_error"] is True


def test_hang_after_steps_wedges_the_engine_not_the_worker(supervisor):
    s, ready = start(supervisor, {"step_base_us": 2000, "tokens_per_step": 1, "hang_after_steps": 3})
    assert ready["config"]["hang_after_steps"] == 3
    gen(s, 1, max_tokens=50)
    items = []
    while sum(i["n"] for i in items) < 3:
        items += s.recv()["items"]
    # three steps (the prefill's first token, two decodes), then the fourth never ends
    with pytest.raises(TimeoutError):
        s.recv(timeout=1.0)
    assert sum(i["n"] for i in items) == 3 and all(i["finish"] is None for i in items)
    # the worker itself is not stuck
    s.send({"type": "stats", "id": 7})
    m = s.recv()
    assert m["type"] == "stats_report" and m["id"] == 7
    s.send({"type": "tokenize", "id": 8, "texts": ["a b"], "add_special_tokens": False})
    m = s.recv()
    assert m["type"] == "tokenized" and m["id"] == 8 and len(m["token_ids"][0]) == 2
    s.send({"type": "abort", "ids": [1]})
    m = s.recv()
    assert m["type"] == "outputs" and len(m["items"]) == 1
    it = m["items"][0]
    assert it["id"] == 1 and it["finish"] == "abort" and it["n"] == 0
    assert it["engine"]["first_token_ns"] is not None
    # reset and shutdown do not wait for the step loop either
    s.send({"type": "reset", "id": 9})
    assert s.recv() == {"type": "reset_done", "id": 9, "attempts": 1}
    s.send({"type": "shutdown"})
    assert s.recv() == {"type": "bye"}
    assert s.wait(10) == 0


def test_hang_after_steps_must_be_a_count(supervisor):
    s = supervisor()
    s.recv()
    s.send({"type": "init", "engine": "mock", "model": "m", "vllm_config": {}, "mock": {"hang_after_steps": -1},
            "processor": None, "seed": 0})
    m = s.recv()
    assert m["type"] == "fatal" and m["user_error"] is True and m["error"] == "mock.hang_after_steps must be an integer >= 0"


def test_progress_while_stepping_and_not_while_idle(supervisor):
    s, _ = start(supervisor, {"step_base_us": 2000})
    with pytest.raises(TimeoutError):
        s.recv(timeout=0.5, progress=True)  # ready, idle: nothing steps
    gen(s, 1, max_tokens=300)  # 300 steps (a prefill, then 299 decodes) of 2 ms
    progress, items = [], []
    while not (items and items[-1]["finish"]):
        m = s.recv(progress=True)
        if m["type"] == "progress":
            progress.append(m)
        else:
            items += m["items"]
    # the last step is reported within 200 ms of the previous report
    while progress[-1]["steps"] < 300:
        m = s.recv(timeout=1.0, progress=True)
        assert m["type"] == "progress", m
        progress.append(m)
    steps = [p["steps"] for p in progress]
    times = [p["t_ns"] for p in progress]
    assert all(a < b for a, b in zip(steps, steps[1:])), steps
    assert all(a < b for a, b in zip(times, times[1:])), times
    assert steps[0] == 1 and steps[-1] == 300  # the first step is reported at once, the last one too
    assert times[-1] == items[-1]["t_ns"]  # the step that ended the request
    # one report per 200 ms at most
    span_ms = (items[-1]["t_ns"] - items[0]["t_ns"]) / 1e6
    assert 3 <= len(progress) <= span_ms / 200 + 2, (len(progress), span_ms)
    with pytest.raises(TimeoutError):
        s.recv(timeout=1.0, progress=True)  # idle again
    # a second burst counts on from the first
    gen(s, 2, max_tokens=2)
    _, by_id = collect(s, [2])
    m = s.recv(timeout=1.0, progress=True)
    assert m["type"] == "progress" and m["steps"] == 302 and m["t_ns"] == by_id[2][-1]["t_ns"]


def test_no_progress_from_a_hung_engine(supervisor):
    s, _ = start(supervisor, {"step_base_us": 1000, "hang_after_steps": 5})
    gen(s, 1, max_tokens=50)
    seen = []
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        try:
            m = s.recv(timeout=max(0.01, deadline - time.monotonic()), progress=True)
        except TimeoutError:
            break
        if m["type"] == "progress":
            seen.append(m["steps"])
    assert seen and seen[-1] == 5 and len(seen) <= 2, seen


def start_coalescing(supervisor, mock, coalesce_ms):
    s = supervisor()
    assert s.recv()["type"] == "hello"
    s.send({"type": "init", "engine": "mock", "model": "m", "vllm_config": {}, "mock": mock, "processor": None,
            "seed": 1, "coalesce_ns": int(coalesce_ms * 1e6)})
    assert s.recv()["type"] == "ready"
    return s


def expand(items):
    """Items with `steps` (several held outputs of one request) as one item per output."""
    out = []
    for i in items:
        steps = i.get("steps")
        if steps is None:
            out.append(i)
            continue
        assert len(steps) >= 4 and len(steps) % 2 == 0, i
        ns, ts = steps[0::2], steps[1::2]
        assert i["n"] == sum(ns) and i["t_ns"] == ts[-1] and ts == sorted(ts), i
        assert i["finish"] is None and "received_ns" not in i, i
        out += [{"id": i["id"], "n": n, "t_ns": t, "finish": None} for n, t in zip(ns, ts)]
    return out


def test_coalesced_later_tokens_keep_their_own_stamps_and_order(supervisor):
    """init.coalesce_ns: a request's first token goes at once, its later tokens are held and go
    together in one item (each with its own count and t_ns in `steps`), the final item after
    them; nothing is lost or reordered."""
    s = start_coalescing(supervisor, {"step_base_us": 1000}, 30)
    gen(s, 1, max_tokens=40)
    frames, by_id = collect(s, [1])
    items = by_id[1]
    check_request(items, 4, 40)
    # the first token alone in its frame; ~40 ms of 1 ms steps held in 30 ms windows: a few
    # frames and items, not one per token (the window bounds how long a token waits)
    assert frames[0]["items"] == [items[0]]
    assert len(frames) < 20 and len(items) < 20, [f["items"] for f in frames]
    assert any(len(i.get("steps", ())) > 10 for i in items), items
    outputs = expand(items)
    assert [i["n"] for i in outputs] == [1] * 40
    # each held token kept its own step's stamp: distinct, increasing
    ts = [i["t_ns"] for i in outputs]
    assert len(set(ts)) == 40 and ts == sorted(ts)
    # several requests: each one's items in order, every first item before that request's others
    for rid in range(10, 16):
        gen(s, rid, max_tokens=12)
    frames, by_id = collect(s, range(10, 16))
    for rid in range(10, 16):
        check_request(by_id[rid], 4, 12)
    # another message (here a `failed` for request 21) releases what was held before it goes:
    # request 20's items before and after it are one increasing sequence ending in its abort
    gen(s, 20, max_tokens=200)
    before = []
    m = s.recv()
    assert m["type"] == "outputs" and m["items"] == [m["items"][0]] and m["items"][0]["n"] == 1
    before += m["items"]
    time.sleep(0.02)
    s.send({"type": "generate", "id": 21, "prompt_token_ids": [1], "max_tokens": 0, "ignore_eos": True,
            "sampling": {}})
    while True:
        m = s.recv()
        if m["type"] == "failed":
            assert m["id"] == 21
            break
        before += [i for i in m["items"] if i["id"] == 20]
    assert len(before) > 1  # the held tokens of the 20 ms before the failure went out ahead of it
    s.send({"type": "abort", "ids": [20]})
    _, by_id = collect(s, [20])
    items = expand(before + by_id[20])
    assert items[-1]["finish"] == "abort" and all(i["finish"] is None for i in items[:-1])
    ts = [i["t_ns"] for i in items]
    assert ts == sorted(ts)
    s.send({"type": "shutdown"})
    assert s.recv() == {"type": "bye"}


def test_coalesce_ns_must_be_a_count(supervisor):
    s = supervisor()
    assert s.recv()["type"] == "hello"
    s.send({"type": "init", "engine": "mock", "model": "m", "vllm_config": {}, "mock": {}, "processor": None,
            "seed": 1, "coalesce_ns": -5})
    m = s.recv()
    assert m["type"] == "fatal" and m["user_error"] and "coalesce_ns" in m["error"]


def stage(s, rid, **kw):
    msg = {"type": "stage", "id": rid, "prompt_token_ids": [1, 2, 3, 4], "max_tokens": 3, "ignore_eos": True,
           "sampling": {}}
    msg.update(kw)
    s.send(msg)


def test_a_staged_request_starts_at_its_go_and_is_stamped_there(supervisor):
    s, _ = start(supervisor, {"step_base_us": 500})
    stage(s, 1)
    time.sleep(0.05)  # built by now (STAGE_BUILD_S), and not started
    with pytest.raises(TimeoutError):
        s.recv(0.1)
    before = time.monotonic_ns()
    s.send({"type": "go", "id": 1})
    _, by_id = collect(s, [1])
    items = by_id[1]
    assert sum(it["n"] for it in items) == 3 and items[-1]["finish"] == "length"
    assert items[0]["received_ns"] >= before  # the go's read, not the stage's
    # a go that comes before the staged request was built (the frames in one write)
    s.send_raw(W.pack_frame({"type": "stage", "id": 2, "prompt_token_ids": [5, 6], "max_tokens": 2,
                             "ignore_eos": True, "sampling": {}}) + W.pack_frame({"type": "go", "id": 2}))
    _, by_id = collect(s, [2])
    assert sum(it["n"] for it in by_id[2]) == 2


def test_a_burst_is_staged_together_and_a_later_stage_drops_what_got_no_go(supervisor):
    s, _ = start(supervisor, {"step_base_us": 500})
    # a burst: staged one by one, their gos in one write
    stage(s, 1)
    stage(s, 2)
    stage(s, 3, max_tokens=2)
    s.send_raw(b"".join(W.pack_frame({"type": "go", "id": i}) for i in (1, 2, 3)))
    _, by_id = collect(s, [1, 2, 3])
    assert [sum(it["n"] for it in by_id[i]) for i in (1, 2, 3)] == [3, 3, 2]
    # all three read in one write: one worker_received
    assert len({by_id[i][0]["received_ns"] for i in (1, 2, 3)}) == 1
    # 4 is never sent; the stage after 5's go drops it
    stage(s, 4)
    stage(s, 5)
    s.send({"type": "go", "id": 5})
    _, by_id = collect(s, [5])
    stage(s, 6)
    s.send({"type": "go", "id": 4})
    m = s.recv()
    assert m["type"] == "failed" and m["id"] == 4 and "not staged" in m["error"], m
    s.send({"type": "go", "id": 6})
    _, by_id = collect(s, [6])
    assert sum(it["n"] for it in by_id[6]) == 3
    # a go with nothing staged
    s.send({"type": "go", "id": 6})
    m = s.recv()
    assert m["type"] == "failed" and m["id"] == 6, m


def test_a_bad_staged_request_fails_at_its_go(supervisor):
    s, _ = start(supervisor, {"step_base_us": 500})
    stage(s, 7, max_tokens=0)
    with pytest.raises(TimeoutError):
        s.recv(0.1)  # nothing is said before its go
    s.send({"type": "go", "id": 7})
    m = s.recv()
    assert m["type"] == "failed" and m["id"] == 7 and "max_tokens" in m["error"], m
