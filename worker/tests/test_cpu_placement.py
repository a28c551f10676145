"""Keeping llmbench off the CPUs the engine binds (#18): which CPUs count as bound, and moving
this process's threads."""
import os

import llmbench_worker as lw


def test_cpu_lists_round_trip():
    assert lw._cpu_list("0-2,5\n") == {0, 1, 2, 5}
    assert lw._cpu_text({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert lw._cpu_text({3}) == "3"


def test_only_threads_narrower_than_the_worker_count_as_bound():
    threads = {
        10: ["0-3", "0-3"],  # EngineCore: unbound
        11: ["0-3", "1", "2"],  # a model worker: its OpenMP threads on 1 and 2
        12: OSError,  # gone
    }

    def read(pid):
        v = threads[pid]
        if v is OSError:
            raise OSError("gone")
        return v

    assert lw.engine_bound_cpus([10, 11, 12], allowed={0, 1, 2, 3}, thread_cpus=read) == {1, 2}
    assert lw.engine_bound_cpus([10], allowed={0, 1, 2, 3}, thread_cpus=read) == set()


def test_this_process_moves_off_the_bound_cpus_where_others_are_left(monkeypatch):
    before = set(os.sched_getaffinity(0))
    try:
        assert lw.place_off_engine_cpus(set()) is None
        assert lw.place_off_engine_cpus(before) is None, "no CPU would be left"
        if len(before) < 2:
            return
        bound = {min(before)}
        monkeypatch.setenv("LLMBENCH_CPU_PLACEMENT", "off")
        assert lw.place_off_engine_cpus(bound) is None
        monkeypatch.delenv("LLMBENCH_CPU_PLACEMENT")
        rest = lw.place_off_engine_cpus(bound)
        assert rest == before - bound
        assert set(os.sched_getaffinity(0)) == rest
    finally:
        os.sched_setaffinity(0, before)
