"""The engine's own counters: summing vLLM's per-step stats (IterationStats.prompt_token_stats,
SchedulerStats.spec_decoding_stats) between two `stats` requests, and the stat-logger plugins."""

from types import SimpleNamespace as NS

from conftest import W


def step(computed=0, local=0, external=0, preempted=0, spec=None):
    it = NS(prompt_token_stats=NS(computed=computed, local_cache_hit=local, external_kv_transfer=external,
                                  total=computed + local + external),
            num_preempted_reqs=preempted)
    return NS(spec_decoding_stats=spec), it


def spec(drafts, drafted, accepted, per_pos):
    return NS(num_drafts=drafts, num_draft_tokens=drafted, num_accepted_tokens=accepted,
              num_accepted_tokens_per_pos=per_pos)


def test_prompt_tokens_and_preemptions_sum_over_steps():
    acc = {}
    for s in (step(10, 6, 0), step(4, 0, 3, preempted=1), step()):
        acc = W.add_step_counters(acc, *s)
    out = W.engine_counters_report(acc)
    assert out == {"steps": 3, "prompt_tokens": 23, "prompt_tokens_computed": 14, "prompt_tokens_cached": 6,
                   "prompt_tokens_external": 3, "cache_creation_tokens": None, "preemptions": 1,
                   "spec_decoding": None}


def test_spec_decoding_sums_and_rate():
    acc = {}
    acc = W.add_step_counters(acc, *step(spec=spec(2, 6, 3, [2, 1, 0])))
    acc = W.add_step_counters(acc, *step(spec=spec(1, 3, 3, [1, 1, 1])))
    acc = W.add_step_counters(acc, *step())  # a step without drafts (scheduler stats carry none)
    sd = W.engine_counters_report(acc)["spec_decoding"]
    assert sd == {"drafts": 3, "draft_tokens": 9, "accepted_tokens": 6, "acceptance_rate": 6 / 9,
                  "accepted_per_position": [3, 2, 1]}
    assert sum(sd["accepted_per_position"]) == sd["accepted_tokens"]


def test_no_drafts_no_rate_and_missing_attributes():
    acc = W.add_step_counters({}, NS(spec_decoding_stats=spec(0, 0, 0, [0, 0])), NS())
    out = W.engine_counters_report(acc)
    assert out["spec_decoding"]["acceptance_rate"] is None
    assert out["prompt_tokens"] is None and out["preemptions"] is None and out["steps"] == 1


def test_telemetry_counters_reset_on_take():
    tel = W.Telemetry()
    assert tel.take_counters() is None  # no stat logger step: the mock engine
    tel.counters = W.add_step_counters({}, *step(5))
    assert tel.take_counters()["prompt_tokens_computed"] == 5
    assert tel.take_counters() is None
    tel.add_cache_creation(32)
    tel.add_cache_creation(16)
    assert tel.take_counters()["cache_creation_tokens"] == 48


def test_stat_logger_plugins_is_a_list_of_names():
    got = W.stat_logger_plugins()
    assert isinstance(got, list) and all(" = " in p for p in got)
