"""The ids a merge keeps for every request (`results.ids.Ids`): by row, by id, across processes, compactly."""

import pickle
import subprocess
import sys
import tracemalloc

from batchkit.results.ids import Ids
from batchkit.results.report import MergeReport
from batchkit.results.requests import index_requests


class SameHash(str):
    """An id whose hash every other one shares: rows must be told apart by the id itself."""

    def __hash__(self):
        return 7


def filled(names) -> Ids:
    """Ids as a request index adds them: a row is its id's first unless the id was added before."""
    ids = Ids()
    for name in names:
        if ids.add(name) is not None:
            ids.append(name)
    return ids


def test_ids_by_row_and_rows_by_id():
    ids = filled(["a", "b", "a", "ü-1", "x\ud800y", ""])
    assert list(ids) == ["a", "b", "a", "ü-1", "x\ud800y", ""]
    assert len(ids) == 6 and ids[3] == "ü-1" and ids[-1] == "" and ids[1:4] == ["b", "a", "ü-1"]
    assert [ids.row_of(name) for name in ["a", "b", "ü-1", "x\ud800y", ""]] == [0, 1, 3, 4, 5]
    assert ids.row_of("c") is None and ids.row_of("x") is None


def test_an_alias_names_a_row_but_never_hides_an_id():
    ids = filled(["a", "b"])
    ids.alias("line-1", 1)
    ids.alias("a", 1)
    assert ids.row_of("line-1") == 1 and ids.row_of("a") == 0


def test_ids_whose_hashes_collide_are_told_apart():
    names = [SameHash(f"id-{i}") for i in range(40)]
    ids = filled(names)
    assert [ids.row_of(SameHash(f"id-{i}")) for i in range(40)] == list(range(40))
    assert ids.row_of(SameHash("id-40")) is None


def test_a_hundred_thousand_ids_grow_the_table_and_stay_found():
    names = [f"request-{i}" for i in range(100_000)]
    ids = filled(names)
    assert all(ids.row_of(name) == row for row, name in enumerate(names))
    assert ids.row_of("request-100000") is None and ids.row_of("request-") is None


def test_ids_cross_to_a_process_with_another_hash_seed():
    ids = filled([f"r{i}" for i in range(1000)] + ["r5"])
    ids.alias("other", 9)
    program = (
        "import pickle, sys; ids = pickle.load(sys.stdin.buffer); "
        "print(ids.row_of('r5'), ids.row_of('r999'), ids.row_of('other'), ids.row_of('r1000'), ids[1000], len(ids))"
    )
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", program],
            input=pickle.dumps(ids),
            capture_output=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)},
            check=True,
        )
        assert out.stdout.decode().split() == ["5", "999", "9", "None", "r5", "1001"], out.stderr


def test_a_request_index_keeps_under_a_hundred_bytes_a_request(tmp_path):
    path = tmp_path / "batch.jsonl"
    count = 20_000
    with open(path, "w") as f:
        for i in range(count):
            f.write(f'{{"custom_id":"request-{i}","method":"POST","url":"/v1/chat/completions",'
                    f'"body":{{"model":"m","messages":[{{"role":"user","content":"hi {i}"}}]}}}}\n')  # fmt: skip
    tracemalloc.start()
    try:
        requests = index_requests([path], MergeReport([str(path)], []), None)
        kept, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert requests.row_of("request-19999") == count - 1 and requests.ids[7] == "request-7"
    # ids, their table, model, file, line, line hash and answer schema of each row; a list of str and a
    # dict of str → row alone were about 130
    assert kept / count < 100, kept / count  # about 88 here
