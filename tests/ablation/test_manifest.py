"""``ablation_plan.json`` as typed records: round trip, older plans, and which settings make a
sweep's runs stale."""

from dataclasses import replace

from sparseg.ablation.manifest import StageRecord, SweepManifest, SweepSettingsRecord

SETTINGS = SweepSettingsRecord(
    data="/data/usgra_nerve",
    split="/sweep/split.json",
    split_digest="abc",
    minutes_per_run=None,
    steps_per_run=1000,
)


def stage(**changes) -> StageRecord:
    fields = dict(
        name="+ CRF",
        slug="04-crf",
        tune=True,
        after_tune={"inference.crf": True},
        ensemble_folds=1,
        pretrain=None,
        claim=(0.6, 0.7),
        claim_gain=(0.02, 0.05),
        note=None,
        skipped=None,
        compare_to="03-tta",
        reuses="03-tta",
    )
    return StageRecord(**{**fields, **changes})


def test_the_manifest_round_trips_through_its_json(tmp_path):
    manifest = SweepManifest(
        ladder="/ladders/field-guide.yaml",
        mode="cumulative",
        description="the field guide's recipe",
        settings=SETTINGS,
        seeds=[0, 1],
        stages=[stage(), stage(slug="05-pre", pretrain={"steps": 3}, claim=None)],
    )
    manifest.write(tmp_path / "ablation_plan.json")
    assert SweepManifest.read(tmp_path / "ablation_plan.json") == manifest
    payload = manifest.to_json()
    assert payload["steps_per_run"] == 1000 and payload["split_digest"] == "abc"
    assert payload["stages"][0]["claim"] == [0.6, 0.7]
    assert "pretrain" not in payload["stages"][0]  # a stage without pretraining says nothing
    assert payload["stages"][1]["pretrain"] == {"steps": 3}


def test_an_older_plan_reads_with_defaults():
    old = SweepManifest.from_json(
        {"stages": [{"name": "basic", "slug": "01-basic"}], "seeds": [0], "data": "/d"}
    )
    assert old.stages[0] == StageRecord(
        "basic", "01-basic", False, {}, 1, None, None, None, None, None, None, None
    )
    assert old.settings.split_digest is None and old.settings.steps_per_run is None


def test_settings_that_keep_runs_and_settings_that_do_not():
    moved = replace(SETTINGS, data="/elsewhere/usgra_nerve", split="/elsewhere/split.json")
    assert moved.differs_from(SETTINGS) is None  # carried to another machine
    other_split = replace(SETTINGS, split_digest="def")
    assert other_split.differs_from(SETTINGS) == ("split_digest", "abc", "def")
    before_digests = replace(SETTINGS, split_digest=None)
    assert SETTINGS.differs_from(before_digests) is None  # the same path decides
    assert moved.differs_from(before_digests) == ("split", SETTINGS.split, moved.split)
    other_data = replace(SETTINGS, data="/data/ms_lesjak_flair")
    assert other_data.differs_from(SETTINGS) == ("data", SETTINGS.data, other_data.data)
    longer = replace(SETTINGS, steps_per_run=2000)
    assert longer.differs_from(SETTINGS) == ("steps_per_run", 1000, 2000)
