"""What is logged: one naming scheme for every figure, counts and intervals, artifacts
beside the store; look-alike pairs and cache files."""

import re

import pytest

from kanjiwrite.training.metrics import wilson_interval
from kanjiwrite.training.tracking import artifact_root, evaluation_metrics, metric_name


def test_wilson_interval_of_a_small_count():
    low, high = wilson_interval(4, 382)  # learner false rejects on the Tegaki eval part
    assert (round(low, 3), round(high, 3)) == (0.004, 0.027)
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_every_figure_of_a_report_is_a_metric_with_one_naming_scheme():
    figures = {"false_reject": 0.01, "false_reject_ci_low": 0.004, "samples": 46}
    report = {
        "model": {
            "false_reject": 0.02,
            "per_type_accuracy": {"wrong_order": 0.8},
            "confusion": [[1]],
        },
        "baseline": {"false_reject": 0.1},
        "real": {"writers": {"japanese-learner1": figures}, "disagreeing_samples": [{}, {}]},
        "kana": {"writers": {"hiragana": figures}, "disagreeing_samples": []},
        "style_shift": {
            "tomoe": {"model": {"false_reject": 0.015, "accepted_whole_at": {"strict": 0.9}}}
        },
        "lookalike": {"lookalike": {"model": {"accepted_whole": 0.1}}},
        "strictness": {"lenient": {"threshold": 0.1, "false_reject": 0.0}},
        "excluded": {"real_count_or_order_disagrees": 6},
        "targets": {"real_japanese-learner1_false_reject": {"value": 0.0105, "met": False}},
    }
    flat = evaluation_metrics(report)
    assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in flat)
    assert flat["real_japanese_learner1_false_reject"] == 0.01
    assert flat["target_real_japanese_learner1_false_reject_met"] == 0.0
    assert flat["target_real_japanese_learner1_false_reject_value"] == 0.0105
    assert flat["kana_hiragana_samples"] == 46 and flat["real_disagreeing_samples"] == 2
    assert flat["style_shift_tomoe_model_accepted_whole_at_strict"] == 0.9
    assert flat["lookalike_lookalike_model_accepted_whole"] == 0.1
    assert flat["test_per_type_accuracy_wrong_order"] == 0.8
    assert flat["excluded_real_count_or_order_disagrees"] == 6
    assert metric_name("real", "japanese-learner1") == "real_japanese_learner1"


def test_artifacts_live_beside_an_sqlite_store(tmp_path):
    assert artifact_root(f"sqlite:///{tmp_path}/mlflow.db") == (tmp_path / "mlruns").as_uri()
    assert artifact_root("http://tracking.example:5000") is None


def test_lookalike_pairs_are_mined_once_and_cached_with_the_pack(tmp_path, monkeypatch, pack):
    import shutil

    from kanjiwrite.datasets import lookalikes
    from kanjiwrite.datasets.kanjivg import ReferencePack

    copy = ReferencePack(shutil.copy(pack.path, tmp_path / pack.path.name))
    mined = []
    real = lookalikes.mine_lookalikes
    few = list("土士末未工甲申日曰十")

    def counted(p, chars):
        mined.append(len(chars))
        return real(p, few)  # the whole pack takes 30 s: a few characters stand in

    monkeypatch.setattr(lookalikes, "mine_lookalikes", counted)
    first = lookalikes.all_lookalikes(copy)
    lookalikes.all_lookalikes.cache_clear()
    again = lookalikes.all_lookalikes(copy)  # a new process: read from the cache file
    assert mined == [len(pack)] and first == again
    assert lookalikes.lookalike_cache_path(copy).exists()
    assert [p.name for p in tmp_path.iterdir() if ".tmp" in p.name] == []
    split = lookalikes.lookalikes_of(copy, tuple("土士末"))
    assert split == {k: v for k, v in real(pack, list("土士末")).items()}


def test_cache_files_are_written_under_a_unique_temporary_name(tmp_path):
    from kanjiwrite.datasets.kanjivg import write_atomically

    names = []

    def write(tmp):
        names.append(tmp.name)
        tmp.write_text("x")

    write_atomically(tmp_path / "cache.npz", write)
    write_atomically(tmp_path / "cache.npz", write)
    assert names[0] != names[1] and all(n.endswith(".npz") for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz"]
    with pytest.raises(OSError):
        write_atomically(tmp_path / "other.npz", lambda tmp: (_ for _ in ()).throw(OSError()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz"]


def test_the_report_says_how_independent_real_writing_is_and_what_it_left_out(
    tmp_path, tegaki_fixture
):
    from kanjiwrite.datasets.tegaki import read_tegaki_folder
    from kanjiwrite.training.evaluate import provenance
    from kanjiwrite.training.metrics import rate_with_interval
    from kanjiwrite.training.report import real_writing_lines

    evaluated = read_tegaki_folder(tegaki_fixture(tmp_path / "eval"))
    same = provenance(evaluated, tegaki_fixture(tmp_path / "train"))
    assert same["shared_writers"] == ["japanese-fixture1"] and same["shared_characters"] == 3
    figures = {
        "samples": 3,
        "samples_strokes": 382,
        **rate_with_interval("false_reject", 4, 382),
        **rate_with_interval("baseline_false_reject", 40, 382),
        **rate_with_interval("false_accept", 7, 91),
        **rate_with_interval("baseline_false_accept", 7, 91),
    }
    section = {
        "writers": {"japanese-fixture1": figures},
        "excluded": {"samples": 9, "scored": 3, "not_in_pack": 0, "count_or_order_disagrees": 6},
        "provenance": same,
    }
    text = "\n".join(real_writing_lines(section, "Real handwriting"))
    assert "NOT independent of validation" in text and "3 of these 3 characters" in text
    assert "(4/382; 95% 0.4-2.7%)" in text and "(7/91; 95% " in text
    assert "Of 9 samples, 3 scored" in text and "6 whose stroke count or order disagrees" in text
    elsewhere = provenance(evaluated, tmp_path / "absent")
    assert "not found here" in "\n".join(
        real_writing_lines(section | {"provenance": elsewhere}, "x")
    )
    assert provenance(evaluated, None)["calibration"] is None
