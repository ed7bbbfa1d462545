"""Which items, which split, which subset, which fold: the one answer that ``train``, ``tune``,
``evaluate``, ``save-probabilities``, ``score``, ``ablate``, ``pretrain``, ``crossval`` and
``select`` all take.

The items are those :func:`~sparseg.data.discovery.discover_items` finds, sliced as the run was
trained; the split follows :func:`~sparseg.data.splits.choose_split`'s one rule (the split
file's fold, else the run's or sweep's saved split, else a seeded default written there once);
a split file may name cases (a volume's id), each standing for its items.

Example::

    selection = ItemSelection(Path("data"), split_file=Path("splits.json"), fold=1)
    test_items = selection.subset_items("test")
    run = ItemSelection.of_run(Path("runs/cv"), Path("data"), config.data)  # its first fold's split
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from functools import cached_property
from pathlib import Path

from sparseg.config import DataConfig
from sparseg.data.discovery import Item, discover_items
from sparseg.data.splits import DefaultSplit, SplitIds, case_of, check_subset, choose_split
from sparseg.data.volumes import Slicing
from sparseg.run_layout import split_source


@dataclass(frozen=True)
class ItemSelection:
    """A data set's items and the split of them that a command uses (settings by keyword).

    ``split_file``'s fold ``fold`` when given; else ``saved_split`` (a run's or a sweep's own
    ``split.json``) when it exists; else, with ``default``, a seeded default split written to
    ``saved_split``; else one error asking for ``--split``. ``require_masks=False`` admits
    images without a mask (pretraining's labelled set).
    """

    data_root: Path
    _: KW_ONLY
    slicing: Slicing = field(default_factory=Slicing)
    split_file: Path | None = None
    fold: int = 0
    saved_split: Path | None = None
    default: DefaultSplit | None = None
    require_masks: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_root", Path(self.data_root))
        for name in ("split_file", "saved_split"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))

    @classmethod
    def of_run(
        cls,
        run: Path,
        data_root: Path,
        data: DataConfig,
        *,
        split_file: Path | None = None,
        fold: int = 0,
    ) -> ItemSelection:
        """The items as ``run`` was trained on them (its ``data`` section's slicing) and its
        split: ``split_file``'s fold, else the run's own ``split.json`` (a fold or selection
        folder's: that of its first fold, whose test images every fold shares)."""
        return cls(
            Path(data_root),
            slicing=Slicing.of(data),
            split_file=split_file,
            fold=fold,
            saved_split=split_source(Path(run)),
        )

    @cached_property
    def items(self) -> dict[str, Item]:
        """Every item of the data set by id (read once per selection)."""
        found = discover_items(
            self.data_root, require_masks=self.require_masks, slicing=self.slicing
        )
        return {item.id: item for item in found}

    @property
    def cases(self) -> dict[str, str]:
        """Each item's case (a volume's slices share one; a 2D image is its own)."""
        return case_of(self.items)

    @property
    def split_path(self) -> Path | None:
        """The file the split is read from: the split file, else the saved split."""
        return self.split_file or self.saved_split

    def split(self, fold: int | None = None) -> SplitIds:
        """The chosen split, case ids expanded into their items; ``fold`` picks another fold
        of the same split file (default: :attr:`fold`)."""
        chosen = self.fold if fold is None else fold
        return choose_split(self.items, self.split_file, chosen, self.saved_split, self.default)

    def subset(self, name: str) -> list[str]:
        """The ids of subset ``name`` (``test``, ``val``, ``train``; ``all``: every item, with
        no split needed); any other name is refused in one line."""
        if check_subset(name) == "all":
            return sorted(self.items)
        return self.split().subset(name, self.items)

    def subset_items(self, name: str) -> list[Item]:
        """The items of subset ``name``, as :meth:`subset` orders them."""
        return [self.items[item_id] for item_id in self.subset(name)]
