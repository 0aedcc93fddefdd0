import os
import stat

import pytest

from sareeflow.errors import ArtifactExists, Conflict, NotFound
from sareeflow.store import Store, new_id, read_lines, sha256_hex


def _saree(store: Store) -> str:
    return store.create_saree(
        original=b"jpeg-bytes",
        extension="jpg",
        normalized_png=b"png-bytes",
        filename="../../etc/passwd",
        fmt="JPEG",
        size=(10, 10),
    ).saree_id


def test_artifact_is_listed_with_sha256_and_size(store):
    saree_id = _saree(store)
    record = store.write_artifact(
        saree_id, "generations/0001/a.bin", b"hello", kind="test", generation=1
    )
    assert record.sha256 == sha256_hex(b"hello") and record.size == 5
    listed = {r.path: r for r in store.artifacts(saree_id)}
    assert listed["generations/0001/a.bin"].sha256 == record.sha256
    assert store.read_bytes(saree_id, "generations/0001/a.bin") == b"hello"


def test_second_write_to_same_name_raises_and_keeps_first_content(store):
    saree_id = _saree(store)
    store.write_artifact(saree_id, "x/a.bin", b"first", kind="test")
    with pytest.raises(ArtifactExists):
        store.write_artifact(saree_id, "x/a.bin", b"second", kind="test")
    assert store.read_bytes(saree_id, "x/a.bin") == b"first"
    assert [r.path for r in store.artifacts(saree_id)].count("x/a.bin") == 1


def test_no_temporary_files_are_left_behind(store):
    saree_id = _saree(store)
    store.write_artifact(saree_id, "x/a.bin", b"data", kind="test")
    leftovers = [p for p in store.saree_dir(saree_id).rglob(".tmp-*")]
    assert leftovers == []


def test_upload_filename_is_sanitised(store):
    saree_id = _saree(store)
    assert "/" not in store.require_saree(saree_id).original_filename


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a//b/../c", "", ".", "a/./b"])
def test_paths_that_could_escape_are_refused(store, bad):
    saree_id = _saree(store)
    with pytest.raises(NotFound):
        store.resolve(saree_id, bad)


@pytest.mark.parametrize("bad", ["..", "abc", "0" * 31, "G" * 32, "../" + "0" * 29])
def test_malformed_ids_are_not_found(store, bad):
    with pytest.raises(NotFound):
        store.saree_dir(bad)


def test_generations_are_claimed_in_order(store):
    saree_id = _saree(store)
    assert [store.new_generation(saree_id) for _ in range(3)] == [1, 2, 3]
    assert store.generations(saree_id) == [1, 2, 3]


def test_run_lock_is_exclusive_and_visible(store):
    saree_id = _saree(store)
    assert not store.is_locked(saree_id, "run")
    with store.lock(saree_id, "run", blocking=False):
        assert store.is_locked(saree_id, "run")
        with pytest.raises(Conflict), store.lock(saree_id, "run", blocking=False):
            pass
    assert not store.is_locked(saree_id, "run")


def test_torn_last_line_of_an_append_only_log_is_ignored(tmp_path):
    log = tmp_path / "events.jsonl"
    log.write_bytes(b'{"a":1}\n{"b":2}\n{"c":')
    assert read_lines(log) == [{"a": 1}, {"b": 2}]


def test_artifacts_are_not_modified_by_reading(store):
    saree_id = _saree(store)
    store.write_artifact(saree_id, "x/a.bin", b"data", kind="test")
    path = store.resolve(saree_id, "x/a.bin")
    before = (os.stat(path).st_mtime_ns, stat.S_IMODE(os.stat(path).st_mode))
    store.read_bytes(saree_id, "x/a.bin")
    store.artifacts(saree_id)
    assert (os.stat(path).st_mtime_ns, stat.S_IMODE(os.stat(path).st_mode)) == before


def test_unknown_saree_is_not_found(store):
    with pytest.raises(NotFound):
        store.require_saree(new_id())
