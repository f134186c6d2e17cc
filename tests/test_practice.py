"""Daily practice: the rating rule, FSRS over simulated weeks, concurrency, the endpoints."""

import itertools
import os
import threading
from datetime import UTC, datetime, timedelta

import fsrs
import numpy as np
import pytest
from fastapi.testclient import TestClient

from kanjiwrite.serving.app import create_app
from kanjiwrite.serving.practice_routes import clock
from kanjiwrite.serving.practice_store import PracticeStore, migrate
from kanjiwrite.serving.rating import GradedAttempt, rate_attempt
from kanjiwrite.serving.settings import Settings, shipped_model

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("misses", "hints", "complete", "duration", "rating"),
    [
        ([0, 0, 0], 0, True, 9000, fsrs.Rating.Good),
        ([0, 0, 0], 0, True, 3000, fsrs.Rating.Easy),  # fast: <= 1.5 s a stroke
        ([0, 1, 0], 0, True, 3000, fsrs.Rating.Hard),
        ([1, 1, 0], 0, True, None, fsrs.Rating.Hard),
        ([1, 1, 1], 0, True, None, fsrs.Rating.Again),  # three misses in all
        ([0, 3, 0], 0, True, None, fsrs.Rating.Again),  # the hint shown after 3 misses
        ([0, 0, 0], 1, True, None, fsrs.Rating.Again),  # a hint asked for
        ([0, 0, 0], 0, False, None, fsrs.Rating.Again),  # not finished
    ],
)
def test_rating_rule(misses, hints, complete, duration, rating):
    assert rate_attempt(misses, hints, complete, duration) == rating


@pytest.fixture
def app_and_time(tmp_path, pack):
    url = f"sqlite:///{tmp_path}/practice.db"
    migrate(url)
    app = create_app(Settings(model_path=shipped_model(), database_url=url))
    now = {"t": START}
    app.dependency_overrides[clock] = lambda: now["t"]
    with TestClient(app) as client:
        yield client, now


def written(pack, kanji, wrong=False):
    """Strokes as a learner writes them on a 400 px canvas (all reversed when ``wrong``)."""
    strokes = [(s * 3 + 40).round(1).tolist() for s in pack[kanji].strokes]
    return [s[::-1] for s in strokes] if wrong else strokes


def test_simulated_weeks_grow_intervals_and_shrink_them_after_a_failure(app_and_time, pack):
    client, now = app_and_time
    learner = client.post("/v1/learners").json()["learner_id"]
    assert len(learner) == 32 and int(learner, 16) >= 0  # 128-bit hex token
    added = client.post(f"/v1/learners/{learner}/cards", json={"kanji": ["口", "十"]}).json()
    assert added == {"added": 2, "total": 2}
    history = {"口": [], "十": []}
    forgotten = False  # 十's first stroke goes wrong 3 times once its interval reached 3 days
    for day in range(30):
        for session in range(3):  # learning steps fall due within the day's session
            now["t"] = START + timedelta(days=day, minutes=15 * session)
            queue = client.get(f"/v1/learners/{learner}/queue").json()
            for kanji in queue["due"] + queue["new"]:
                failing = kanji == "十" and forgotten
                backwards = written(pack, kanji, wrong=True)[:1]
                strokes = (backwards * 3 if failing else []) + written(pack, kanji)
                body = {
                    "strokes": strokes,
                    "canvas": {"width": 400, "height": 400},
                    "duration_ms": 20000,
                }
                result = client.post(
                    f"/v1/learners/{learner}/cards/{kanji}/reviews", json=body
                ).json()
                history[kanji].append((day, result["rating"], result["interval_days"]))
                forgotten = forgotten or (kanji == "十" and result["interval_days"] >= 3)
    assert all(rating == "Good" for _, rating, _ in history["口"])
    spaced = [i for _, _, i in history["口"] if i >= 1]
    assert len(spaced) >= 3 and all(b > a for a, b in itertools.pairwise(spaced))  # growing
    ratings = [rating for _, rating, _ in history["十"]]
    first_fail = ratings.index("Again")
    assert history["十"][first_fail][2] < history["十"][first_fail - 1][2]  # shrinks
    assert history["十"][first_fail][2] < 1  # back within the day
    stats = client.get(f"/v1/learners/{learner}/stats").json()
    assert stats["cards"] == 2 and stats["reviews"] == len(history["口"]) + len(history["十"])
    assert stats["streak_days"] >= 1 and 0 < stats["retention_30d"] < 1


def test_queue_puts_due_reviews_first_and_limits_new_kanji(app_and_time, pack):
    client, now = app_and_time
    learner = client.post("/v1/learners").json()["learner_id"]
    assert (
        client.post(f"/v1/learners/{learner}/cards", json={"set": "grade-1"}).json()["added"] == 80
    )
    queue = client.get(f"/v1/learners/{learner}/queue").json()
    assert queue["due"] == [] and len(queue["new"]) == 10 and queue["next_due"] is None
    first = queue["new"][0]
    client.post(
        f"/v1/learners/{learner}/cards/{first}/reviews",
        json={"strokes": written(pack, first), "canvas": {"width": 400, "height": 400}},
    )
    now["t"] += timedelta(days=30)
    later = client.get(f"/v1/learners/{learner}/queue").json()
    assert later["due"] == [first] and first not in later["new"] and len(later["new"]) == 10


def test_practice_errors(app_and_time):
    client, _ = app_and_time
    unknown = "0" * 32
    assert client.get(f"/v1/learners/{unknown}/queue").status_code == 404
    assert client.get("/v1/learners/short/stats").status_code == 404
    learner = client.post("/v1/learners").json()["learner_id"]
    assert client.post(f"/v1/learners/{learner}/cards", json={}).status_code == 422
    assert client.post(f"/v1/learners/{learner}/cards", json={"set": "grade-9"}).status_code == 422
    assert client.post(f"/v1/learners/{learner}/cards", json={"kanji": ["☃"]}).status_code == 422
    body = {"strokes": [[[1, 2], [3, 4]]]}
    assert client.post(f"/v1/learners/{learner}/cards/書/reviews", json=body).status_code == 404
    assert client.post(f"/v1/learners/{learner}/cards/☃/reviews", json=body).status_code == 404
    bad = client.post(f"/v1/learners/{learner}/cards/書/reviews", json={"strokes": []})
    assert bad.status_code == 422
    far = client.post(f"/v1/learners/{learner}/cards/書/reviews", json={"strokes": [[[1e9, 1]]]})
    assert far.status_code == 422 and "far outside" in far.text
    nan = client.post(
        f"/v1/learners/{learner}/cards/書/reviews",
        content='{"strokes": [[[NaN, 1]]]}',
        headers={"content-type": "application/json"},
    )
    assert nan.status_code == 422 and "finite" in nan.text
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/learners",
        "/v1/learners/{learner_id}/cards",
        "/v1/learners/{learner_id}/queue",
        "/v1/learners/{learner_id}/cards/{kanji}/reviews",
        "/v1/learners/{learner_id}/stats",
    } <= set(paths)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_reviews_of_one_card_are_all_kept(tmp_path, backend):
    url = {
        "sqlite": f"sqlite:///{tmp_path}/concurrent.db",
        "postgresql": os.environ.get("KANJIWRITE_TEST_POSTGRES_URL"),
    }[backend]
    if url is None:
        pytest.skip("no PostgreSQL here: set KANJIWRITE_TEST_POSTGRES_URL (.ci/run does)")
    migrate(url)
    store = PracticeStore(url, {})
    learner = store.create_learner(START)
    store.add_cards(learner, ["書"], START)
    barrier = threading.Barrier(8)
    errors = []

    def review(i):
        try:
            barrier.wait()
            store.review(
                learner,
                "書",
                GradedAttempt([0] * 10, True, 10),
                fsrs.Rating.Good,
                0,
                None,
                "test",
                START + timedelta(seconds=i),
            )
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=review, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    from sqlalchemy import func, select

    from kanjiwrite.serving.practice_store import CardRow, ReviewLogRow

    with store.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(ReviewLogRow)
                .where(ReviewLogRow.learner_id == learner)
            )
            == 8
        )
        assert session.scalar(select(CardRow.reps).where(CardRow.learner_id == learner)) == 8
    store.engine.dispose()


def test_learner_ids_are_random_tokens(tmp_path):
    url = f"sqlite:///{tmp_path}/ids.db"
    migrate(url)
    store = PracticeStore(url, {})
    ids = {store.create_learner(START) for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 32 for i in ids)
    assert len({int(i, 16) % 1000 for i in ids}) > 40  # not a counter
    np.testing.assert_array_less(0, [int(i, 16) for i in ids])
