"""The resume policy: a checkpoint only resumes into a config that builds the same network."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparseg.errors import SparsegError
from sparseg.training.run_state import check_resumable, common_payload
from tests.helpers import tiny_config


def test_a_presence_head_added_or_removed_on_resume_is_refused() -> None:
    trained = common_payload(tiny_config("model.presence_head=true"), 1, None)
    check_resumable(trained, tiny_config("model.presence_head=true"), Path("last.ckpt"))
    with pytest.raises(SparsegError, match=r"trained with model\.presence_head=True"):
        check_resumable(trained, tiny_config(), Path("last.ckpt"))
