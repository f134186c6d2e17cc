"""The shipped model through the real decoder and the service: what a learner does.

Every test here drives ``models/grader.onnx`` (no crafted model outputs): the behaviour
suite on a seeded sample of the held-out characters (the release gate), and the cases the
grader issue named, through ``POST /v1/score`` pen lift by pen lift as the app sends them.
"""

import json
import tempfile

import numpy as np
import pytest
from fastapi.testclient import TestClient

from kanjiwrite.datasets.contract import KANJIVG_SIZE
from kanjiwrite.models.runtime import onnx_predict
from kanjiwrite.serving.app import create_app
from kanjiwrite.serving.db import migrate
from kanjiwrite.serving.settings import Settings, shipped_model
from kanjiwrite.training.scenarios import gate_failures, markdown, run_scenarios

CANVAS = {"width": 400, "height": 400}
DATABASE = f"sqlite:///{tempfile.mkdtemp()}/practice.db"


@pytest.fixture(scope="module")
def client():
    migrate(DATABASE)
    with TestClient(create_app(Settings(model_path=shipped_model(), database_url=DATABASE))) as c:
        yield c


def on_canvas(strokes) -> list:
    """Reference-box strokes placed in the 400 x 400 box as a writer does (scale 3.3,
    centred), with a steady hand's jitter."""
    rng = np.random.default_rng(0)
    return [
        (np.asarray(s) * 3.3 + 200 - KANJIVG_SIZE * 3.3 / 2 + rng.normal(0, 0.8, np.shape(s)))
        .round(1)
        .tolist()
        for s in strokes
    ]


def lift(client, kanji, accepted, stroke) -> dict:
    """One pen lift under the app's protocol: the accepted strokes plus the new one."""
    body = {
        "kanji": kanji,
        "strokes": [*accepted, stroke],
        "canvas": CANVAS,
        "settled": len(accepted),
    }
    response = client.post("/v1/score", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def write(client, kanji, strokes) -> list[dict]:
    """Every pen lift of ``strokes``; a stroke joins the accepted ones when right."""
    accepted, answers = [], []
    for stroke in strokes:
        answer = lift(client, kanji, accepted, stroke)
        answers.append(answer)
        if answer["strokes"][-1]["correct"]:
            accepted.append(stroke)
    return answers


@pytest.mark.slow
def test_the_shipped_model_passes_the_behaviour_gate_on_a_sample(pack):
    predict = onnx_predict(shipped_model())
    thresholds = json.loads(predict.metadata["thresholds"])
    table = run_scenarios(predict, pack, thresholds["standard"], cases=12, seed=7)
    # released with --force below two lines of the gate (model card): those two are held
    # at what the release measured on 200 cases (97.5%, 95.5%) less this sample's noise
    forced = ("stroke1_moved: caught", "lookalike: caught")
    assert [f for f in gate_failures(table) if not f.startswith(forced)] == [], markdown(table)
    assert min(table["stroke1_moved"]["caught"], table["lookalike"]["caught"]) >= 0.9


def test_a_first_stroke_in_the_wrong_place_of_the_box_is_misplaced(client, pack):
    # 十's horizontal drawn a third of the box higher, where no stroke of 十 lies
    moved = np.asarray(pack["十"].strokes[0]) - np.array([0, KANJIVG_SIZE / 3])
    newest = lift(client, "十", [], on_canvas([moved])[0])["strokes"][-1]
    assert newest["verdict"] == "misplaced", newest
    right = lift(client, "十", [], on_canvas(pack["十"].strokes[:1])[0])["strokes"][-1]
    assert right["correct"], right
    # 三's top stroke drawn a third lower lies where stroke 2 belongs: it is named so
    lower = np.asarray(pack["三"].strokes[0]) + np.array([0, KANJIVG_SIZE / 3])
    named = lift(client, "三", [], on_canvas([lower])[0])["strokes"][-1]
    assert named["verdict"] == "wrong_order" and named["matched_index"] == 1, named


def test_a_first_stroke_far_from_its_place_is_misplaced_even_when_its_shape_passes(client, pack):
    # 前's first dot drawn 0.3 of the character up and left (0.27 of the box): the model
    # scores its shape above the threshold; its place in the box (farther than any real
    # writer's first stroke) makes it misplaced
    moved = np.asarray(pack["前"].strokes[0]) + np.array([-0.277, -0.115]) * KANJIVG_SIZE
    newest = lift(client, "前", [], on_canvas([moved])[0])["strokes"][-1]
    assert newest["verdict"] == "misplaced" and newest["p_correct"] >= 0.5, newest
    right = lift(client, "前", [], on_canvas(pack["前"].strokes[:1])[0])["strokes"][-1]
    assert right["correct"], right


def test_a_later_stroke_drawn_first_is_named(client, pack):
    # 三 bottom-up: the bottom stroke first
    bottom = on_canvas(pack["三"].strokes)[2]
    newest = lift(client, "三", [], bottom)["strokes"][-1]
    assert newest["verdict"] == "wrong_order" and newest["matched_index"] == 2, newest
    assert newest["message"].startswith("That is stroke 3; stroke 1 comes first")


def test_the_previous_stroke_again_and_a_tap_tell_one_story(client, pack):
    strokes = on_canvas(pack["三"].strokes)
    again = lift(client, "三", strokes[:1], strokes[0])["strokes"][-1]
    assert again["verdict"] == "wrong_order" and again["matched_index"] == 0, again
    assert again["message"] == "That is stroke 1 again; stroke 2 comes next."
    tap = lift(client, "三", [], [strokes[0][0]])["strokes"][-1]
    assert tap["verdict"] == "wrong_shape" and "again" not in tap["message"], tap


def test_a_look_alike_written_instead_is_caught_and_named(client, pack):
    answers = write(client, "土", on_canvas(pack["士"].strokes))
    flagged = [a["strokes"][-1] for a in answers if a["strokes"][-1]["lookalike"]]
    assert flagged and flagged[0]["lookalike"] == "士", [a["strokes"][-1] for a in answers]
    assert flagged[0]["message"].startswith("This is turning into 士 (")
    assert not answers[-1]["complete"]
    # the kanji asked, written well, is accepted whole and completes
    well = write(client, "土", on_canvas(pack["土"].strokes))
    assert all(a["strokes"][-1]["correct"] for a in well) and well[-1]["complete"]


def test_a_look_alike_that_parts_after_the_listed_difference_is_caught_where_it_shows(client, pack):
    # 冑 (helmet) and 胄 (descendant) differ, by KanjiVG's strokes, at stroke 3; the shipped
    # model tells them apart only at the bottom part: the writing is flagged there
    answers = write(client, "冑", on_canvas(pack["胄"].strokes))
    flagged = [a["strokes"][-1] for a in answers if a["strokes"][-1]["lookalike"]]
    assert flagged and flagged[0]["lookalike"] == "胄" and flagged[0]["index"] >= 3, flagged
    assert not answers[-1]["complete"]
    for kanji in "冑鈍央堤菅凱":  # written well: never flagged, each completes
        well = write(client, kanji, on_canvas(pack[kanji].strokes))
        assert all(a["strokes"][-1]["correct"] for a in well) and well[-1]["complete"], kanji


def test_every_stroke_right_completes_the_kanji(client, pack):
    # strokes once accepted stay accepted (settled), so writing every stroke right ends
    # complete whatever the context does to earlier strokes' p_correct
    for kanji in "凩書右左":
        answers = write(client, kanji, on_canvas(pack[kanji].strokes))
        assert all(a["strokes"][-1]["correct"] for a in answers), kanji
        assert answers[-1]["complete"] and answers[-1]["missing"] == [], kanji


def test_the_shipped_partner_table_is_the_mined_one(pack, tmp_path):
    from kanjiwrite.datasets.lookalikes import PARTNER_TABLE, write_partner_table

    mined = json.loads(write_partner_table(pack, tmp_path / "table.json").read_text())
    assert mined == json.loads(PARTNER_TABLE.read_text())
    assert next(w for w, _ in mined["partners"]["土"]) == "士"
    assert not any(c in mined["partners"] for c in "ぁァっ")  # small kana are not partners
