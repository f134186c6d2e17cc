"""The request path's regression check (#24): the in-process stage profile of a fixed
realistic mix, each stage as a ratio to a CPU workload timed beside it, against the ratios
recorded in ``serving/stage_profile.json`` (``kanjiwrite bench profile --record``)."""

import json

from kanjiwrite.serving.profile import RECORDED, STAGES, realistic_mix, regressions, stage_profile


def test_the_mix_has_every_kind_of_request():
    bodies = realistic_mix(count=60)
    counts = {len(b["strokes"]) for b in bodies}
    assert max(counts) >= 20 and min(counts) <= 2
    assert sum(b["kanji"] == "驢" for b in bodies) == 6  # the costliest kanji, every tenth


def test_no_stage_takes_twice_its_recorded_share_of_the_cpu():
    recorded = json.loads(RECORDED.read_text())
    assert set(recorded) == set(STAGES)
    profile = stage_profile(realistic_mix(count=60), repeats=2)
    assert regressions(profile, recorded) == {}, profile


def test_a_stage_twice_as_slow_is_reported():
    recorded = dict.fromkeys(STAGES, 1.0)
    profile = {"ratios": {**recorded, "decode": 2.5}}
    assert regressions(profile, recorded) == {"decode": 2.5}
