"""``ablation_plan.json``, typed: a sweep's settings and its resolved stages, written once by
:func:`sparseg.ablation.prepare.write_plan` and read by the rows, the outputs and a later run
of the same sweep (which refuses other settings)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sparseg.io_utils import atomic_write_json, read_json

Range = tuple[float, float]


def _range(value: Any) -> Range | None:
    return (float(value[0]), float(value[1])) if value else None


@dataclass(frozen=True)
class StageRecord:
    """One resolved stage: what it trains and decides, what the field guide claims for it
    (``claim``: its Dice, ``claim_gain``: its gain over ``compare_to``, the slug of the stage it
    is compared with), why it was skipped, and the stage whose models it reuses."""

    name: str
    slug: str
    tune: bool
    after_tune: dict[str, Any]
    ensemble_folds: int
    pretrain: dict[str, Any] | None
    claim: Range | None
    claim_gain: Range | None
    note: str | None
    skipped: str | None
    compare_to: str | None
    reuses: str | None

    def to_json(self) -> dict[str, Any]:
        payload = asdict(self)
        if self.pretrain is None:
            del payload["pretrain"]
        for key in ("claim", "claim_gain"):
            payload[key] = None if payload[key] is None else list(payload[key])
        return payload

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> StageRecord:
        """A stage of any sweep's plan; keys an older sweep lacks are at their defaults."""
        return cls(
            name=payload["name"],
            slug=payload["slug"],
            tune=bool(payload.get("tune", False)),
            after_tune=dict(payload.get("after_tune") or {}),
            ensemble_folds=int(payload.get("ensemble_folds") or 1),
            pretrain=payload.get("pretrain"),
            claim=_range(payload.get("claim")),
            claim_gain=_range(payload.get("claim_gain")),
            note=payload.get("note"),
            skipped=payload.get("skipped"),
            compare_to=payload.get("compare_to"),
            reuses=payload.get("reuses"),
        )


@dataclass(frozen=True)
class SweepSettingsRecord:
    """What a sweep's runs share and a later run of the sweep must keep: the data set, the
    split (its path and a digest of its contents) and each run's budget."""

    data: str
    split: str
    split_digest: str | None
    minutes_per_run: float | None
    steps_per_run: int | None

    def differs_from(self, old: SweepSettingsRecord) -> tuple[str, Any, Any] | None:
        """The first setting that makes ``old``'s runs stale (name, old value, new value).
        A sweep carried to another machine may find its data and split elsewhere: the same
        data set is the same folder name, the same split the same contents (a plan from before
        digests: the same path)."""
        if old.data != self.data and Path(old.data).name != Path(self.data).name:
            return "data", old.data, self.data
        if old.split_digest is None and old.split != self.split:
            return "split", old.split, self.split
        if old.split_digest is not None and old.split_digest != self.split_digest:
            return "split_digest", old.split_digest, self.split_digest
        for name in ("minutes_per_run", "steps_per_run"):
            if getattr(old, name) != getattr(self, name):
                return name, getattr(old, name), getattr(self, name)
        return None


@dataclass(frozen=True)
class SweepManifest:
    """``ablation_plan.json``: the ladder, its mode and description, the settings, the seeds
    and the stages in ladder order."""

    ladder: str
    mode: str
    description: str | None
    settings: SweepSettingsRecord
    seeds: list[int]
    stages: list[StageRecord]

    def to_json(self) -> dict[str, Any]:
        return {
            "ladder": self.ladder,
            "mode": self.mode,
            "description": self.description,
            **asdict(self.settings),
            "seeds": list(self.seeds),
            "stages": [stage.to_json() for stage in self.stages],
        }

    def write(self, path: Path) -> None:
        atomic_write_json(path, self.to_json())

    @classmethod
    def read(cls, path: Path) -> SweepManifest:
        return cls.from_json(read_json(path))

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> SweepManifest:
        """Any sweep's plan; keys an older sweep lacks are at their defaults."""
        return cls(
            ladder=str(payload.get("ladder", "ladder")),
            mode=str(payload.get("mode", "cumulative")),
            description=payload.get("description"),
            settings=SweepSettingsRecord(
                data=str(payload.get("data")),
                split=str(payload.get("split")),
                split_digest=payload.get("split_digest") or None,
                minutes_per_run=payload.get("minutes_per_run"),
                steps_per_run=payload.get("steps_per_run"),
            ),
            seeds=[int(seed) for seed in payload.get("seeds") or []],
            stages=[StageRecord.from_json(stage) for stage in payload["stages"]],
        )
