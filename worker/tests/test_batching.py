"""vllm_python_batch's micro-batches (the worker's Batcher) on the mock engine, through a socket:
batches form by size or by timeout, run one at a time, are not streamed, and aborts and resets
end the requests still waiting for a batch."""

import time

from test_mock_engine import check_request, collect, start


def bgen(s, rid, size, timeout_ns, max_tokens=6, n_prompt=4):
    s.send({"type": "generate", "id": rid, "prompt_token_ids": list(range(1, n_prompt + 1)),
            "max_tokens": max_tokens, "ignore_eos": True, "sampling": {},
            "batch_size": size, "batch_timeout_ns": timeout_ns})


def test_full_batches_go_at_once_one_at_a_time_with_one_item_each(supervisor):
    s, _ = start(supervisor, {"step_base_us": 2000})
    ids = list(range(1, 10))
    for rid in ids:
        bgen(s, rid, 4, 10_000_000_000)  # only full batches go; the 9th waits for the shutdown
    frames, by_id = collect(s, ids[:8])
    for rid in ids[:8]:
        items = by_id[rid]
        assert len(items) == 1, "not streamed: one item, when the request ends"
        check_request(items, 4, 6)
        assert items[0]["n"] == 6
    sub = {rid: by_id[rid][0]["submitted_ns"] for rid in ids[:8]}
    end = {rid: by_id[rid][0]["t_ns"] for rid in ids[:8]}
    first, second = ids[:4], ids[4:8]
    # the second batch reached the engine only after every request of the first had ended
    assert min(sub[r] for r in second) >= max(end[r] for r in first)
    assert 9 not in by_id or not by_id[9]
    # the 9th is still waiting for three more: an abort ends it without the engine
    s.send({"type": "abort", "ids": [9]})
    m = s.recv()
    assert m["type"] == "outputs"
    (it,) = m["items"]
    assert (it["id"], it["n"], it["finish"], it["engine"]) == (9, 0, "abort", None)
    assert it["received_ns"] == it["submitted_ns"] and it["prompt_tokens"] == 4


def test_a_partial_batch_goes_after_its_timeout(supervisor):
    s, _ = start(supervisor, {"step_base_us": 1000})
    timeout_ns = 150_000_000
    t0 = time.monotonic_ns()
    bgen(s, 1, 8, timeout_ns)
    bgen(s, 2, 8, timeout_ns)
    _, by_id = collect(s, [1, 2])
    for rid in (1, 2):
        (it,) = by_id[rid]
        # handed to the engine no sooner than the timeout after the batch's first request
        assert it["submitted_ns"] - by_id[1][0]["received_ns"] >= timeout_ns
        assert it["submitted_ns"] >= t0 + timeout_ns
    assert by_id[1][0]["submitted_ns"] == by_id[2][0]["submitted_ns"] or abs(
        by_id[1][0]["submitted_ns"] - by_id[2][0]["submitted_ns"]) < timeout_ns


def test_reset_ends_waiting_batches_and_batch_keys_are_checked(supervisor):
    s, _ = start(supervisor, {"step_base_us": 2000})
    for rid in range(1, 4):
        bgen(s, rid, 8, 10_000_000_000)
    s.send({"type": "reset", "id": 70})
    aborted = []
    while True:
        m = s.recv()
        if m["type"] == "reset_done":
            break
        aborted += [(it["id"], it["finish"]) for it in m["items"]]
    assert sorted(aborted) == [(1, "abort"), (2, "abort"), (3, "abort")]
    bgen(s, 5, 0, 1000)
    assert s.recv() == {"type": "failed", "id": 5, "error": "generate.batch_size must be an integer >= 1 or absent"}
    s.send({"type": "generate", "id": 6, "prompt_token_ids": [1, 2], "max_tokens": 2, "ignore_eos": True,
            "sampling": {}, "batch_size": 2})
    m = s.recv()
    assert m["type"] == "failed" and m["id"] == 6 and "batch_timeout_ns" in m["error"]
    # streamed requests are untouched by batching
    s.send({"type": "generate", "id": 7, "prompt_token_ids": [1, 2, 3], "max_tokens": 5, "ignore_eos": True,
            "sampling": {}})
    _, by_id = collect(s, [7])
    check_request(by_id[7], 3, 5)
    assert len(by_id[7]) > 1
