"""Seeded, case- and optionally subject-grouped splits, and reading/writing split files.

The items of one case (the slices of a volume, the frames of a loop) always land in the same
part; ``group_regex`` then groups cases into subjects.

Three file formats:
``{"test": [...], "folds": [{"train": [...], "val": [...]}, ...]}`` (k-fold),
``{"train": [...], "val": [...], "test": [...]}`` (simple) and nnU-Net's ``splits_final.json``,
``[{"train": [...], "val": [...]}, ...]`` (k-fold without a test set). The lists hold item ids
(file stems, or slice ids such as ``case_z042``) or case ids: a case id stands for all of that
case's items, so a split of volumes may name the volumes.

Written by hand because scikit-learn (GroupKFold / GroupShuffleSplit) is not a dependency and
these few lines are all of it that is needed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sparseg.config import DataConfig
from sparseg.data.discovery import Item
from sparseg.errors import SparsegError
from sparseg.io_utils import atomic_write_json, ensure_output_file, read_json

SUBSETS = ("test", "val", "train", "all")

KnownItems = Iterable[str] | Mapping[str, Item]
"""The data set's item ids; given as ``{id: Item}``, their cases come with them."""


@dataclass
class SplitIds:
    train: list[str]
    val: list[str]
    test: list[str]

    def subset(self, name: str, known: Iterable[str]) -> list[str]:
        """The ids of one subset; ``all`` is every id in ``known`` (the whole data set)."""
        return sorted(known) if check_subset(name) == "all" else list(getattr(self, name))


def check_subset(name: str) -> str:
    """``name`` when it is one of ``SUBSETS``, else the one error for an unknown subset."""
    if name not in SUBSETS:
        raise SparsegError(f"--subset {name!r}: expected one of {', '.join(SUBSETS)}")
    return name


@dataclass(frozen=True)
class DefaultSplit:
    """How to make the seeded default split when no split file exists yet."""

    val_fraction: float
    test_fraction: float
    seed: int
    group_regex: str | None = None

    @classmethod
    def of(cls, data: DataConfig, seed: int) -> DefaultSplit:
        """From a config's ``data`` section (its fractions and ``group_regex``) and a seed."""
        return cls(data.val_fraction, data.test_fraction, seed, data.group_regex)


def make_splits(
    ids: list[str],
    folds: int,
    test_fraction: float,
    seed: int,
    group_regex: str | None = None,
    cases: Mapping[str, str] | None = None,
) -> dict:
    """A held-out test set plus ``folds``-fold cross-validation over the remaining ids.

    ``cases`` maps an id to its case (ids not in it are their own case): a case's ids land in
    the same part. With ``group_regex`` all cases of one subject (the regex's first group, or
    its whole match, on the case id) do too. Folds are balanced by id count (largest first).
    """
    if folds < 2:
        raise SparsegError(f"--folds: need at least 2 folds, got {folds}")
    _check_fraction("--test-fraction", test_fraction)
    groups = _shuffled_groups(ids, seed, group_regex, cases)
    test_target = _target(len(ids), test_fraction)
    _require_groups(groups, folds + (test_target > 0), f"{folds} folds and a test set")
    test, rest = _take(groups, test_target, keep=folds)
    fold_groups: list[list[list[str]]] = [[] for _ in range(folds)]
    for group in sorted(rest, key=len, reverse=True):  # stable: equal sizes keep shuffled order
        smallest = min(range(folds), key=lambda k: sum(len(g) for g in fold_groups[k]))
        fold_groups[smallest].append(group)
    return {
        "test": _flat(test),
        "folds": [
            {
                "train": _flat(g for other, gs in enumerate(fold_groups) if other != k for g in gs),
                "val": _flat(fold_groups[k]),
            }
            for k in range(folds)
        ],
    }


def default_split(
    ids: list[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    group_regex: str | None = None,
    cases: Mapping[str, str] | None = None,
) -> dict:
    """The seeded ``{"train", "val", "test"}`` split made when no split file is given (grouped
    as in :func:`make_splits`)."""
    _check_fraction("data.val_fraction", val_fraction)
    _check_fraction("data.test_fraction", test_fraction)
    groups = _shuffled_groups(ids, seed, group_regex, cases)
    test_target, val_target = _target(len(ids), test_fraction), _target(len(ids), val_fraction)
    _require_groups(groups, 1 + (val_target > 0) + (test_target > 0), "train, val and test")
    test, rest = _take(groups, test_target, keep=1 + (val_target > 0))
    val, train = _take(rest, val_target, keep=1)
    return {"train": _flat(train), "val": _flat(val), "test": _flat(test)}


def choose_split(
    known_ids: KnownItems,
    split_file: Path | None,
    fold: int,
    saved: Path | None,
    default: DefaultSplit | None = None,
    cases: Mapping[str, str] | None = None,
) -> SplitIds:
    """The split a command uses, chosen the same way by every command (through
    :class:`sparseg.data.resolve.ItemSelection`).

    ``split_file`` (its fold ``fold``) when given; otherwise ``saved`` (a run's or a sweep's own
    ``split.json``, always fold 0) when it exists; otherwise, with ``default``, a new seeded
    default split written to ``saved`` (grouped by ``cases``: id → case, by default the cases
    of ``known_ids`` given as ``{id: Item}``); otherwise an error asking for ``--split``.
    """
    known = sorted(known_ids)
    cases = case_of(known_ids) if cases is None else cases
    if split_file is not None:
        return load_split(Path(split_file), fold, known, cases)
    if saved is None:
        raise SparsegError("no split file given (pass --split FILE)")
    saved = Path(saved)
    if not saved.is_file():
        if default is None:
            raise SparsegError(f"{saved}: no split file (pass --split FILE)")
        made = default_split(
            known,
            default.val_fraction,
            default.test_fraction,
            default.seed,
            default.group_regex,
            cases,
        )
        save_split(made, saved)
    return load_split(saved, 0, known, cases)


def case_of(known_ids: KnownItems) -> dict[str, str]:
    """Each id's case when the ids come as ``{id: Item}``; else none (each id its own case)."""
    if isinstance(known_ids, Mapping):
        return {image_id: item.group for image_id, item in known_ids.items()}
    return {}


def load_split(
    path: Path, fold: int, known_ids: KnownItems, cases: Mapping[str, str] | None = None
) -> SplitIds:
    """Read any split format, pick ``fold``, turn case ids into their items' ids (``cases``:
    id → case, by default those of ``known_ids`` given as ``{id: Item}``), and check every id
    against the data set."""
    path = Path(path)
    content = read_json(path)
    cases = case_of(known_ids) if cases is None else cases
    if isinstance(content, list) and content and all(isinstance(f, dict) for f in content):
        content = {"folds": content}  # nnU-Net's splits_final.json
    if isinstance(content, dict) and "folds" in content:
        folds = content["folds"]
        if not isinstance(folds, list) or not all(isinstance(f, dict) for f in folds):
            raise SparsegError(f"{path}: 'folds' must be a list of {{'train', 'val'}} objects")
        if not 0 <= fold < len(folds):
            raise SparsegError(
                f"{path}: fold {fold} out of range (the file has {len(folds)} folds, 0 to "
                f"{len(folds) - 1})"
            )
        chosen = folds[fold]
        split = SplitIds(
            train=_id_list(path, chosen, "train", f"folds[{fold}]."),
            val=_id_list(path, chosen, "val", f"folds[{fold}]."),
            test=_id_list(path, content, "test", "", required=False),
        )
    elif isinstance(content, dict) and "train" in content:
        if fold != 0:
            raise SparsegError(f"{path}: fold {fold} asked for, but this split file has no folds")
        split = SplitIds(
            train=_id_list(path, content, "train", ""),
            val=_id_list(path, content, "val", "", required=False),
            test=_id_list(path, content, "test", "", required=False),
        )
    else:
        raise SparsegError(
            f"{path}: not a split file (expected {{'train', 'val', 'test'}} or "
            "{'test', 'folds': [{'train', 'val'}, ...]})"
        )
    split = _by_item(split, set(known_ids), cases)
    _check_ids(path, split, set(known_ids))
    return split


def save_split(split: dict, path: Path) -> None:
    """Write a split file; an existing file that is not JSON (an image, say) is never replaced."""
    atomic_write_json(ensure_output_file(path, (".json",)), split)


# ---------------------------------------------------------------- helpers
def _check_fraction(key: str, fraction: float) -> None:
    if not 0.0 <= fraction < 1.0:
        raise SparsegError(f"{key}: {fraction} is not in [0, 1)")


def _target(total: int, fraction: float) -> int:
    """Ids wanted in a part: at least one whenever the fraction is positive."""
    return max(1, round(total * fraction)) if fraction > 0 else 0


def _shuffled_groups(
    ids: list[str], seed: int, group_regex: str | None, cases: Mapping[str, str] | None = None
) -> list[list[str]]:
    """Ids grouped by case, then by subject (or one group per case), in an order that depends
    only on the seed."""
    repeated = [id_ for id_, count in Counter(ids).items() if count > 1]
    if repeated:
        raise SparsegError(f"id {repeated[0]!r} appears more than once")
    cases = cases or {}
    groups: dict[str, list[str]] = {}
    pattern = _compile(group_regex) if group_regex else None
    unmatched = []
    for id_ in sorted(ids):
        case = cases.get(id_, id_)
        if pattern is None:
            groups.setdefault(case, []).append(id_)
            continue
        match = pattern.search(case)
        if match is None:
            unmatched.append(case)
            continue
        subject = match.group(1) if pattern.groups else match.group(0)
        groups.setdefault(subject, []).append(id_)
    if unmatched:
        raise SparsegError(
            f"--group-regex {group_regex!r}: {len(unmatched)} id(s) do not match, "
            f"e.g. {unmatched[0]!r}"
        )
    keys = sorted(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    return [groups[keys[i]] for i in order]


def _compile(group_regex: str) -> re.Pattern[str]:
    try:
        return re.compile(group_regex)
    except re.error as exc:
        raise SparsegError(f"--group-regex {group_regex!r}: invalid regex ({exc})") from None


def _take(
    groups: list[list[str]], target: int, keep: int
) -> tuple[list[list[str]], list[list[str]]]:
    """Leading groups until they hold ``target`` ids, leaving at least ``keep`` groups behind."""
    taken: list[list[str]] = []
    count = 0
    while count < target and len(groups) - len(taken) > keep:
        taken.append(groups[len(taken)])
        count += len(taken[-1])
    return taken, groups[len(taken) :]


def _require_groups(groups: list[list[str]], needed: int, parts: str) -> None:
    if len(groups) < needed:
        raise SparsegError(
            f"{parts} need at least {needed} subjects (cases, or groups of --group-regex), "
            f"found {len(groups)}"
        )


def _flat(groups: Iterable[list[str]]) -> list[str]:
    return sorted(id_ for group in groups for id_ in group)


def _id_list(
    path: Path, container: dict[str, Any], key: str, where: str, required: bool = True
) -> list[str]:
    if key not in container:
        if required:
            raise SparsegError(f"{path}: missing key '{where}{key}'")
        return []
    ids = container[key]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise SparsegError(f"{path}: '{where}{key}' must be a list of id strings")
    return ids


def _by_item(split: SplitIds, known: set[str], cases: Mapping[str, str]) -> SplitIds:
    """``split`` with every case id that is not also an item id replaced by its items' ids."""
    items: dict[str, list[str]] = {}
    for image_id, case in sorted(cases.items()):
        items.setdefault(case, []).append(image_id)

    def expand(ids: list[str]) -> list[str]:
        expanded: list[str] = []
        for listed in ids:
            expanded.extend([listed] if listed in known else items.get(listed, [listed]))
        return expanded

    return SplitIds(train=expand(split.train), val=expand(split.val), test=expand(split.test))


def _check_ids(path: Path, split: SplitIds, known: set[str]) -> None:
    if not split.train:
        raise SparsegError(f"{path}: the train list is empty")
    listed = [*split.train, *split.val, *split.test]
    missing = sorted({i for i in listed if i not in known})
    if missing:
        shown = ", ".join(repr(i) for i in missing[:3]) + (" ..." if len(missing) > 3 else "")
        raise SparsegError(f"{path}: {len(missing)} id(s) not in the data set: {shown}")
    parts = {"train": set(split.train), "val": set(split.val), "test": set(split.test)}
    for first, second in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = sorted(parts[first] & parts[second])
        if shared:
            raise SparsegError(f"{path}: id {shared[0]!r} is in both {first} and {second}")
