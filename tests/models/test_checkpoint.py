import pytest
import torch

from sparseg.errors import SparsegError
from sparseg.models.checkpoint import load_checkpoint, load_model_weights, save_checkpoint


def test_round_trip_keeps_tensors_and_plain_values(tmp_path) -> None:
    path = tmp_path / "run" / "last.ckpt"
    save_checkpoint(path, {"model": {"w": torch.arange(3.0)}, "epoch": 4, "note": [1, "a"]})
    state = load_checkpoint(path)
    assert torch.equal(state["model"]["w"], torch.arange(3.0))
    assert state["epoch"] == 4 and state["note"] == [1, "a"]
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temp file left


def test_failed_write_keeps_the_previous_checkpoint(tmp_path) -> None:
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, {"model": {}, "epoch": 1})

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        save_checkpoint(path, {"model": {}, "bad": Unpicklable()})
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "checkpoint not found"), (b"", "not a readable"), (b"garbage" * 10, "not a readable")],
)
def test_bad_checkpoint_files_give_one_line(tmp_path, content, message) -> None:
    path = tmp_path / "best.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SparsegError, match=message) as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_truncated_checkpoint_is_rejected(tmp_path) -> None:
    path = tmp_path / "last.ckpt"
    save_checkpoint(path, {"model": {"w": torch.ones(1000)}})
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(SparsegError, match="not a readable"):
        load_checkpoint(path)


def test_pickled_objects_are_refused(tmp_path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"format": 1, "model": {}, "obj": torch.nn.Linear(1, 1)}, path)
    with pytest.raises(SparsegError, match="not a readable"):
        load_checkpoint(path)


def test_architecture_mismatch_names_the_file(tmp_path) -> None:
    model = torch.nn.Linear(2, 2)
    with pytest.raises(SparsegError, match="does not fit the configured model"):
        load_model_weights(model, torch.nn.Linear(3, 2).state_dict(), tmp_path / "best.ckpt")
