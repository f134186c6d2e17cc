"""Daily practice: the rating rule, FSRS over simulated weeks, concurrency, the endpoints."""

import itertools
import json
import os
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta

import fsrs
import numpy as np
import pytest
from fastapi.testclient import TestClient

from kanjiwrite.models.decoding import grade
from kanjiwrite.models.runtime import onnx_predict
from kanjiwrite.serving.app import create_app
from kanjiwrite.serving.db import migrate
from kanjiwrite.serving.practice_routes import clock
from kanjiwrite.serving.practice_store import PracticeStore
from kanjiwrite.serving.rating import GradedAttempt, Help, Rated, grade_attempt, rate
from kanjiwrite.serving.settings import Settings, shipped_model

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("misses", "complete", "duration", "aids", "rating", "reason"),
    [
        ([0, 0, 0], True, 9000, Help(), fsrs.Rating.Good, "every stroke right"),
        ([0, 0, 0], True, 3000, Help(), fsrs.Rating.Easy, "fast"),  # <= 1.5 s a stroke
        ([0, 1, 0], True, 3000, Help(), fsrs.Rating.Hard, "1 miss"),
        ([1, 1, 0], True, None, Help(), fsrs.Rating.Hard, "2 misses"),
        ([1, 1, 1], True, None, Help(), fsrs.Rating.Again, "3 misses and hints"),
        ([0, 3, 0], True, None, Help(), fsrs.Rating.Again, "stroke 2 revealed"),
        ([0, 1, 0], True, None, Help(reveal_after=1), fsrs.Rating.Again, "revealed after 1"),
        ([0, 0, 0], True, None, Help(hints=1), fsrs.Rating.Hard, "you asked for 1 hint"),
        ([0, 1, 0], True, None, Help(hints=2), fsrs.Rating.Again, "3 misses and hints"),
        ([0, 0, 0], True, 3000, Help(guide="outline"), fsrs.Rating.Hard, "you used the outline"),
        ([0, 0, 0], True, 3000, Help(guide="faded"), fsrs.Rating.Hard, "the faded guide"),
        ([0, 0, 0], True, 3000, Help(order=True), fsrs.Rating.Again, "stroke order"),
        ([0, 0, 0], True, 3000, Help(overruled=1), fsrs.Rating.Good, "on your word"),
        ([0, 0, 0], False, None, Help(), fsrs.Rating.Again, "not finished"),
    ],
)
def test_rating_table(misses, complete, duration, aids, rating, reason):
    """One table: misses, hints, the guide, the stroke order and claims each cap the rating,
    and the reasons say which did."""
    rated = rate(misses, complete, duration, aids)
    assert rated.rating == rating and reason in rated.explanation, rated.explanation
    assert rated.explanation.startswith(rating.name + ": ")


@pytest.fixture
def app_and_time(tmp_path, pack):
    url = f"sqlite:///{tmp_path}/practice.db"
    migrate(url)
    app = create_app(Settings(model_path=shipped_model(), database_url=url))
    now = {"t": START}
    app.dependency_overrides[clock] = lambda: now["t"]
    with TestClient(app) as client:
        yield client, now


def sign_up(client) -> dict[str, str]:
    """A new learner: the Authorization header with its token."""
    created = client.post("/v1/learners")
    assert created.status_code == 201
    return {"Authorization": f"Bearer {created.json()['learner_token']}"}


def written(pack, kanji, wrong=False):
    """Strokes as a learner writes them on a 400 px canvas (all reversed when ``wrong``)."""
    strokes = [(s * 3 + 40).round(1).tolist() for s in pack[kanji].strokes]
    return [s[::-1] for s in strokes] if wrong else strokes


def test_simulated_weeks_grow_intervals_and_shrink_them_after_a_failure(app_and_time, pack):
    client, now = app_and_time
    auth = sign_up(client)
    added = client.post("/v1/me/cards", json={"kanji": ["口", "十"]}, headers=auth).json()
    assert added == {"added": 2, "total": 2}
    history = {"口": [], "十": []}
    forgotten = False  # 十's first stroke goes wrong 3 times once its interval reached 3 days
    for day in range(30):
        for session in range(3):  # learning steps fall due within the day's session
            now["t"] = START + timedelta(days=day, minutes=15 * session)
            queue = client.get("/v1/me/queue", headers=auth).json()
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
                    f"/v1/me/cards/{kanji}/reviews", json=body, headers=auth
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
    stats = client.get("/v1/me/stats", headers=auth).json()
    assert stats["cards"] == 2 and stats["reviews"] == len(history["口"]) + len(history["十"])
    assert stats["streak_days"] >= 1 and 0 < stats["retention_30d"] < 1


def test_queue_puts_due_reviews_first_and_limits_new_kanji(app_and_time, pack):
    client, now = app_and_time
    auth = sign_up(client)
    assert client.post("/v1/me/cards", json={"set": "grade-1"}, headers=auth).json()["added"] == 80
    queue = client.get("/v1/me/queue", headers=auth).json()
    assert queue["due"] == [] and len(queue["new"]) == 10 and queue["next_due"] is None
    first = queue["new"][0]
    client.post(
        f"/v1/me/cards/{first}/reviews",
        json={"strokes": written(pack, first), "canvas": {"width": 400, "height": 400}},
        headers=auth,
    )
    now["t"] += timedelta(days=30)
    later = client.get("/v1/me/queue", headers=auth).json()
    assert later["due"] == [first] and first not in later["new"] and len(later["new"]) == 10


def test_practice_errors(app_and_time):
    client, _ = app_and_time
    assert client.get("/v1/me/queue").status_code == 401  # no token
    unknown = client.get("/v1/me/stats", headers={"Authorization": "Bearer " + "0" * 43})
    assert unknown.status_code == 401 and unknown.headers["www-authenticate"] == "Bearer"
    auth = sign_up(client)
    assert client.post("/v1/me/cards", json={}, headers=auth).status_code == 422
    assert client.post("/v1/me/cards", json={"set": "grade-9"}, headers=auth).status_code == 422
    assert client.post("/v1/me/cards", json={"kanji": ["☃"]}, headers=auth).status_code == 422
    body = {"strokes": [[[1, 2], [3, 4]]]}
    assert client.post("/v1/me/cards/書/reviews", json=body, headers=auth).status_code == 404
    assert client.post("/v1/me/cards/☃/reviews", json=body, headers=auth).status_code == 404
    bad = client.post("/v1/me/cards/書/reviews", json={"strokes": []}, headers=auth)
    assert bad.status_code == 422
    far = client.post("/v1/me/cards/書/reviews", json={"strokes": [[[1e9, 1]]]}, headers=auth)
    assert far.status_code == 422 and "far outside" in far.text
    nan = client.post(
        "/v1/me/cards/書/reviews",
        content='{"strokes": [[[NaN, 1]]]}',
        headers={"content-type": "application/json", **auth},
    )
    assert nan.status_code == 422 and "finite" in nan.text
    paths = client.get("/openapi.json").json()["paths"]
    assert {
        "/v1/learners",
        "/v1/me/token",
        "/v1/me/cards",
        "/v1/me/queue",
        "/v1/me/cards/{kanji}/reviews",
        "/v1/me/stats",
    } <= set(paths)
    assert not [p for p in paths if "learner_id" in p or "token}" in p]  # no secret in a URL


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
    learner = store.learner_of(store.create_learner(START))
    store.add_cards(learner, ["書"], START)
    barrier = threading.Barrier(8)
    errors = []

    def review(i):
        try:
            barrier.wait()
            store.review(
                learner,
                "書",
                GradedAttempt([0] * 10, True, 10, 10, 1),
                Rated(fsrs.Rating.Good, []),
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

    from kanjiwrite.serving.db import CardRow, ReviewLogRow

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
    store.dispose()


def test_learner_tokens_are_random_and_only_their_hashes_are_stored(tmp_path):
    url = f"sqlite:///{tmp_path}/ids.db"
    migrate(url)
    store = PracticeStore(url, {})
    tokens = {store.create_learner(START) for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) >= 43 for t in tokens)  # 256 bits, url-safe
    dump = "\n".join(sqlite3.connect(tmp_path / "ids.db").iterdump())
    assert not [t for t in tokens if t in dump]  # a leaked database leaks no credential
    token = next(iter(tokens))
    learner = store.learner_of(token)
    assert learner and learner != token and store.learner_of(token[:-1] + "x") is None
    fresh = store.rotate_token(learner)
    assert store.learner_of(fresh) == learner and store.learner_of(token) is None
    store.dispose()


def test_a_read_is_not_blocked_by_a_held_write_lock(tmp_path):
    """Finding 7: a queue read while another connection holds SQLite's write lock."""
    url = f"sqlite:///{tmp_path}/locks.db"
    migrate(url)
    store = PracticeStore(url, {})
    learner = store.learner_of(store.create_learner(START))
    store.add_cards(learner, ["口"], START)
    writer = sqlite3.connect(tmp_path / "locks.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a writer holds the lock
    writer.execute("UPDATE cards SET reps = reps")
    try:
        started = time.perf_counter()
        queue = store.queue(learner, START)
        assert store.stats(learner, START).cards == 1
        assert time.perf_counter() - started < 1.0 and queue.new == ["口"]
    finally:
        writer.execute("ROLLBACK")
        store.dispose()


def test_a_replayed_review_stores_nothing_and_answers_as_the_first_time(app_and_time, pack):
    """Finding 6: the same attempt posted again (a client retry) is not a second review."""
    client, _ = app_and_time
    auth = sign_up(client)
    client.post("/v1/me/cards", json={"kanji": ["口"]}, headers=auth)
    body = {
        "strokes": written(pack, "口"),
        "canvas": {"width": 400, "height": 400},
        "duration_ms": 9000,
        "attempt_id": "0f7d4c2a-retry-test",
    }
    first = client.post("/v1/me/cards/口/reviews", json=body, headers=auth).json()
    again = client.post("/v1/me/cards/口/reviews", json=body, headers=auth).json()
    assert first["replayed"] is False and again["replayed"] is True
    assert {**again, "replayed": False} == first
    assert client.get("/v1/me/stats", headers=auth).json()["reviews"] == 1
    other = client.post(
        "/v1/me/cards/口/reviews", json={**body, "attempt_id": "another-attempt"}, headers=auth
    )
    assert other.json()["replayed"] is False
    assert client.get("/v1/me/stats", headers=auth).json()["reviews"] == 2


def test_implausibly_fast_attempts_earn_no_easy():
    assert rate([0, 0, 0], True, 0).rating == fsrs.Rating.Good  # 0 ms: not a human
    assert rate([0, 0, 0], True, 300).rating == fsrs.Rating.Good  # 100 ms a stroke
    assert rate([0, 0, 0], True, 900).rating == fsrs.Rating.Easy  # 300 ms a stroke


def sequential_replay(predict, ref, strokes, canvas, accept):
    """The attempt replayed one inference call per stroke (the rule, stated plainly)."""
    accepted, misses = [], [0] * ref.stroke_count
    for stroke in strokes:
        if len(accepted) == ref.stroke_count:
            break
        result = grade(predict, ref, [*accepted, stroke], canvas, prefixes=False, accept=accept)
        if result.strokes[-1].verdict == "correct":
            accepted.append(stroke)
        else:
            misses[len(accepted)] += 1
    return misses, len(accepted) == ref.stroke_count


def test_batched_replay_grades_as_one_call_per_stroke_would(pack):
    """Finding 3: a review is graded in one call when the client's claims hold, and the
    verdicts are those of the plain stroke-by-stroke replay whatever the claims say."""
    predict = onnx_predict(shipped_model())
    rng = np.random.default_rng(4)
    for kanji in "口書右永":
        ref = pack[kanji]
        right = written(pack, kanji)
        wrong = written(pack, kanji, wrong=True)
        strokes = []
        for k in range(ref.stroke_count):  # some strokes first drawn backwards, then right
            strokes += [wrong[k]] * int(rng.integers(0, 3)) + [right[k]]
        arrays = [np.array(s, float) for s in strokes]
        misses, complete = sequential_replay(predict, ref, arrays, (400, 400), 0.5)
        honest, _ = sequential_claims(predict, ref, arrays)
        lies = [not c for c in honest]
        for claims, mode in ((honest, "one call"), (None, "per stroke"), (lies, "bounded")):
            got = grade_attempt(predict, ref, arrays, (400, 400), 0.5, claims)
            assert got.strokes_graded <= ref.stroke_count + 3
            if sum(misses) < 3:  # below the miss that settles Again, every stroke is graded
                assert (got.misses, got.complete) == (misses, complete), (kanji, claims)
            assert (
                rate(got.misses, got.complete, None).rating == rate(misses, complete, None).rating
            )
            calls = {"one call": 1, "per stroke": got.strokes_graded}.get(mode)
            assert calls is None or got.inference_calls == calls, (kanji, mode)


def test_an_honest_review_with_a_miss_is_one_inference_call(pack):
    predict = onnx_predict(shipped_model())
    ref = pack["書"]
    right, wrong = written(pack, "書"), written(pack, "書", wrong=True)
    arrays = [np.array(s, float) for s in [*right[:3], wrong[3], *right[3:]]]
    claims, _ = sequential_claims(predict, ref, arrays)
    got = grade_attempt(predict, ref, arrays, (400, 400), 0.5, claims)
    assert claims.count(False) == 1 and got.inference_calls == 1
    assert sum(got.misses) == 1 and got.complete
    assert (got.misses, got.complete) == sequential_replay(predict, ref, arrays, (400, 400), 0.5)


def sequential_claims(predict, ref, strokes):
    """What an honest client claims: the verdict it showed for each stroke."""
    accepted, claims = [], []
    for stroke in strokes:
        if len(accepted) == ref.stroke_count:
            claims.append(False)
            continue
        result = grade(predict, ref, [*accepted, stroke], (400, 400), prefixes=False)
        claims.append(result.strokes[-1].verdict == "correct")
        accepted += [stroke] if claims[-1] else []
    return claims, accepted


def test_deck_cap_and_rate_limits_answer_4xx(tmp_path, pack):
    """Finding 5: state creation is capped per learner and rate-limited per client."""
    url = f"sqlite:///{tmp_path}/caps.db"
    migrate(url)
    settings = Settings(
        database_url=url,
        max_cards_per_learner=5,
        rate_limit_learners="3/hour",
        rate_limit_cards="4/minute",
    )
    with TestClient(create_app(settings)) as client:
        auth = sign_up(client)
        full = client.post("/v1/me/cards", json={"kanji": list("一二三四五六")}, headers=auth)
        assert full.status_code == 422 and "at most 5" in full.json()["detail"]
        assert client.post("/v1/me/cards", json={"kanji": list("一二")}, headers=auth).json() == {
            "added": 2,
            "total": 2,
        }
        for _ in range(2):
            client.post("/v1/me/cards", json={"kanji": ["三"]}, headers=auth)
        limited = client.post("/v1/me/cards", json={"kanji": ["四"]}, headers=auth)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert [client.post("/v1/learners").status_code for _ in range(3)] == [201, 201, 429]


def stroke(client, auth, kanji, points, canvas=400):
    """Draw one stroke of the attempt in progress at ``kanji``: the response."""
    body = {"strokes": [points], "canvas": {"width": canvas, "height": canvas}}
    return client.post(f"/v1/me/cards/{kanji}/attempt/strokes", json=body, headers=auth)


def test_i_was_right_is_a_bounded_claim_about_the_attempt_in_progress(tmp_path, pack):
    """A backwards stroke (matched to the due stroke) may be claimed: stored with what the
    grader said, it counts as right but the rating stays at Good; an accepted stroke, an
    older one, a third claim, the learner cap and the rate limit answer 4xx."""
    url = f"sqlite:///{tmp_path}/overrides.db"
    migrate(url)
    settings = Settings(database_url=url, max_overrides_per_learner=3)
    with TestClient(create_app(settings)) as client:
        auth = sign_up(client)
        client.post("/v1/me/cards", json={"kanji": list("十口")}, headers=auth)
        right = written(pack, "十")
        backwards = written(pack, "十", wrong=True)[0]
        missed = stroke(client, auth, "十", backwards).json()
        assert missed["strokes"][0]["verdict"] == "wrong_direction" and missed["claimable"]
        claim = {"kanji": "十", "log_index": 0}
        stored = client.post("/v1/me/overrides", json=claim, headers=auth)
        assert stored.status_code == 201, stored.text
        assert stored.json()["verdict_overruled"] == "wrong_direction"
        assert stored.json()["accepted"] == 1
        again = client.post("/v1/me/overrides", json=claim, headers=auth)
        assert again.status_code == 422  # accepted now
        assert stroke(client, auth, "十", right[1]).json()["complete"]
        result = client.post(
            "/v1/me/cards/十/reviews", json={"duration_ms": 3000}, headers=auth
        ).json()
        assert result["complete"] and result["misses"] == [0, 0]
        assert result["rating"] == "Good" and "on your word" in result["explanation"]
        # 口: three plausible backwards strokes, two claims at most per attempt
        backwards = written(pack, "口", wrong=True)
        codes = []
        for k in range(3):
            index = stroke(client, auth, "口", backwards[k]).json()["strokes"][0]["index"]
            codes.append(
                client.post(
                    "/v1/me/overrides", json={"kanji": "口", "log_index": index}, headers=auth
                ).status_code
            )
        assert codes == [201, 201, 422], codes
        metrics = client.get("/metrics").text
        assert 'kanjiwrite_overrides_total{kanji="十"} 1.0' in metrics
    with TestClient(create_app(Settings(database_url=url, rate_limit_overrides="1/minute"))) as c:
        auth = sign_up(c)
        codes = [c.post("/v1/me/overrides", json=claim, headers=auth).status_code for _ in range(2)]
        assert codes == [404, 429]  # 十 is not in this learner's deck, then the limit


def export(url, out):
    from typer.testing import CliRunner

    from kanjiwrite.cli import app

    result = CliRunner().invoke(
        app, ["data", "overrides", "--out", str(out), "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    path = out / "overrides.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ten_taps_claimed_right_end_at_again_with_no_training_data(tmp_path, pack):
    """Issue #23, finding 1: tap the middle of 書 and press "I was right", ten times: every
    claim is refused, the review is Again (or Hard), nothing is exported for training."""
    url = f"sqlite:///{tmp_path}/taps.db"
    migrate(url)
    with TestClient(create_app(Settings(database_url=url))) as client:
        auth = sign_up(client)
        client.post("/v1/me/cards", json={"kanji": ["書"]}, headers=auth)
        refused = []
        for _ in range(10):
            tap = stroke(client, auth, "書", [[200, 200]]).json()
            assert not tap["strokes"][0]["correct"] and not tap["claimable"]
            index = tap["strokes"][0]["index"]
            claimed = client.post(
                "/v1/me/overrides", json={"kanji": "書", "log_index": index}, headers=auth
            )
            refused.append(claimed.status_code)
        assert refused == [422] * 10
        review = client.post("/v1/me/cards/書/reviews", json={"duration_ms": 9000}, headers=auth)
        assert review.json()["rating"] in ("Again", "Hard"), review.text
    assert export(url, tmp_path / "out") == []


def test_a_claim_names_a_stroke_of_this_kanjis_attempt(tmp_path, pack):
    """Issue #23, finding 1: a scribble drawn at 一 cannot be claimed in a review of 体, and
    a review cannot send strokes of its own over an attempt graded stroke by stroke."""
    url = f"sqlite:///{tmp_path}/cross.db"
    migrate(url)
    with TestClient(create_app(Settings(database_url=url))) as client:
        auth = sign_up(client)
        client.post("/v1/me/cards", json={"kanji": list("一体")}, headers=auth)
        scribble = [[100 + 40 * (i % 2), 100 + 10 * i] for i in range(20)]
        assert stroke(client, auth, "一", scribble).status_code == 200
        cross = client.post("/v1/me/overrides", json={"kanji": "体", "log_index": 0}, headers=auth)
        assert 400 <= cross.status_code < 500, cross.text
        old_style = {"kanji": "体", "strokes": [scribble], "attempt_id": "attempt-0001"}
        assert client.post("/v1/me/overrides", json=old_style, headers=auth).status_code == 422
        stroke(client, auth, "体", scribble)
        whole = {"strokes": written(pack, "体"), "canvas": {"width": 400, "height": 400}}
        rewritten = client.post("/v1/me/cards/体/reviews", json=whole, headers=auth)
        assert rewritten.status_code == 409, rewritten.text
        review = client.post("/v1/me/cards/体/reviews", json={}, headers=auth).json()
        assert review["rating"] == "Again" and not review["complete"]


def test_the_first_try_of_the_day_decides(app_and_time, pack):
    """Issue #23, finding 2: two misses, then Next (the queue, another card) or a reload
    (the attempt opened again): coming back and writing cleanly is still Hard; the next day
    starts a new first try."""
    client, now = app_and_time
    auth = sign_up(client)
    client.post("/v1/me/cards", json={"kanji": list("十口")}, headers=auth)
    opened = client.post("/v1/me/cards/十/attempt", headers=auth).json()
    assert opened["drawn"] == 0 and not opened["exam"]
    backwards = written(pack, "十", wrong=True)[0]
    for _ in range(2):
        assert not stroke(client, auth, "十", backwards).json()["strokes"][0]["correct"]
    client.get("/v1/me/queue", headers=auth)  # Next: another card
    client.post("/v1/me/cards/口/attempt", headers=auth)
    now["t"] += timedelta(minutes=20)
    back = client.post("/v1/me/cards/十/attempt", headers=auth).json()  # reload, a new tab
    assert back["drawn"] == 2 and back["misses"] == [2, 0]
    for points in written(pack, "十"):
        stroke(client, auth, "十", points)
    review = client.post("/v1/me/cards/十/reviews", json={"duration_ms": 9000}, headers=auth)
    assert review.json()["rating"] == "Hard" and "2 misses" in review.json()["explanation"]
    fresh = client.post("/v1/me/cards/十/attempt", headers=auth).json()  # reviewed: a new one
    assert fresh["drawn"] == 0
    stroke(client, auth, "十", backwards)
    now["t"] += timedelta(days=1)  # an attempt left yesterday: today's first try is new
    assert client.post("/v1/me/cards/十/attempt", headers=auth).json()["misses"] == [0, 0]


def test_help_recorded_with_the_attempt_lowers_the_rating(app_and_time, pack):
    client, _ = app_and_time
    auth = sign_up(client)
    client.post("/v1/me/cards", json={"kanji": list("十口")}, headers=auth)
    client.post("/v1/me/cards/十/attempt/aids", json={"aid": "outline"}, headers=auth)
    view = client.post("/v1/me/cards/十/attempt/aids", json={"aid": "faded"}, headers=auth).json()
    assert view["guide"] == "outline"  # the most help seen counts
    for points in written(pack, "十"):
        stroke(client, auth, "十", points)
    review = client.post("/v1/me/cards/十/reviews", json={"duration_ms": 3000}, headers=auth)
    assert review.json()["explanation"] == "Hard: you used the outline"
    client.post("/v1/me/cards/口/attempt/aids", json={"aid": "order"}, headers=auth)
    for points in written(pack, "口"):
        stroke(client, auth, "口", points)
    review = client.post("/v1/me/cards/口/reviews", json={}, headers=auth).json()
    assert review["rating"] == "Again" and "stroke order" in review["explanation"]
    bad = client.post("/v1/me/cards/口/attempt/aids", json={"aid": "peek"}, headers=auth)
    assert bad.status_code == 422


def test_exam_mode_has_no_verdicts_until_the_review(app_and_time, pack):
    """Exam mode (the default past a card's second review, or always by setting): strokes
    are sent with the review, which answers with every stroke's verdict."""
    client, _ = app_and_time
    auth = sign_up(client)
    client.post("/v1/me/cards", json={"kanji": ["口"]}, headers=auth)
    settings = {"daily_new": 10, "strictness": "standard", "exam": "always", "reveal_after": 2}
    assert client.put("/v1/me/settings", json=settings, headers=auth).json() == settings
    view = client.post("/v1/me/cards/口/attempt", headers=auth).json()
    assert view["exam"] and view["reveal_after"] == 2
    assert stroke(client, auth, "口", written(pack, "口")[0]).status_code == 409
    strokes = written(pack, "口")
    strokes[1] = strokes[1][::-1]  # one stroke backwards
    body = {"strokes": strokes, "canvas": {"width": 400, "height": 400}, "duration_ms": 9000}
    review = client.post("/v1/me/cards/口/reviews", json=body, headers=auth).json()
    assert [s["verdict"] for s in review["strokes"]][1] == "wrong_direction"
    assert review["rating"] == "Hard" and review["misses"] == [0, 1, 0]
    auto = {**settings, "exam": "auto"}
    client.put("/v1/me/settings", json=auto, headers=auth)
    assert not client.post("/v1/me/cards/口/attempt", headers=auth).json()["exam"]  # 1 review
    client.post(
        "/v1/me/cards/口/reviews", json={**body, "strokes": written(pack, "口")}, headers=auth
    )
    assert client.post("/v1/me/cards/口/attempt", headers=auth).json()["exam"]  # past the 2nd


def test_an_attempt_is_kept_compactly_and_capped(app_and_time, pack):
    client, _ = app_and_time
    auth = sign_up(client)
    client.post("/v1/me/cards", json={"kanji": ["十"]}, headers=auth)
    dense = [[40 + i / 100, 100 + (i % 2) / 100] for i in range(4000)]  # 4000 points, 1 px
    stroke(client, auth, "十", dense)
    db = sqlite3.connect(client.app.state.settings.database_url.removeprefix("sqlite:///"))
    (data,) = db.execute("SELECT data FROM attempts").fetchone()
    assert len(data) < 2000  # repeats at the kept resolution are dropped
    wide = [[(i * 7919) % 400, (i * 104729) % 400] for i in range(3900)]  # every point new
    codes = [stroke(client, auth, "十", wide).status_code for _ in range(3)]
    assert codes == [200, 200, 422], codes  # 8000 points at most
    (data,) = db.execute("SELECT data FROM attempts").fetchone()
    assert len(data) < 100_000
    db.close()


def test_only_plausible_claims_are_exported_with_per_claimant_counts(tmp_path, pack):
    url = f"sqlite:///{tmp_path}/export.db"
    migrate(url)
    with TestClient(create_app(Settings(database_url=url))) as client:
        for learner, kanji in enumerate(("十", "口")):
            auth = sign_up(client)
            client.post("/v1/me/cards", json={"kanji": [kanji]}, headers=auth)
            for k in range(learner + 1):
                index = stroke(client, auth, kanji, written(pack, kanji, wrong=True)[k])
                client.post(
                    "/v1/me/overrides",
                    json={"kanji": kanji, "log_index": index.json()["strokes"][0]["index"]},
                    headers=auth,
                )
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    sizes = [n for (n,) in db.execute("SELECT length(strokes) FROM overrides")]
    assert len(sizes) == 3 and max(sizes) < 5000  # the attempt's compact strokes, not a body
    db.execute(  # a claim stored before migration 0006: never checked, never exported
        "INSERT INTO overrides (learner_id, kanji, strokes, canvas_width, canvas_height, "
        'strictness, verdicts, "order", p_correct, model_id, claim, created_at) VALUES '
        "('x', '一', '[[[1, 1]]]', 400, 400, 'standard', '[\"extra\"]', '[0]', 0.01, 'm', "
        "'correct', '2026-01-01 00:00:00')"
    )
    db.commit()
    db.close()
    records = export(url, tmp_path / "out")
    assert [(r["kanji"], r["claimant"], r["claimant_claims"]) for r in records] == [
        ("十", 1, 1),
        ("口", 2, 2),
        ("口", 2, 2),
    ]
    assert all(r["labels"] == ["correct"] * len(r["strokes"]) for r in records)
    assert "learner_id" not in json.dumps(records)
    assert "Claims per claimant (2 learners" in (tmp_path / "out" / "README.md").read_text()


def test_settings_study_more_and_stats_for_the_stats_view(app_and_time, pack):
    client, _ = app_and_time
    auth = sign_up(client)
    assert client.get("/v1/me/settings", headers=auth).json() == {
        "daily_new": 10,
        "strictness": "standard",
        "exam": "auto",
        "reveal_after": 3,
    }
    saved = {"daily_new": 3, "strictness": "strict", "exam": "never", "reveal_after": 2}
    assert client.put("/v1/me/settings", json=saved, headers=auth).json() == saved
    assert client.get("/v1/me/settings", headers=auth).json() == saved
    bad = client.put("/v1/me/settings", json={"daily_new": -1, "strictness": "x"}, headers=auth)
    assert bad.status_code == 422
    client.post("/v1/me/cards", json={"set": "grade-1"}, headers=auth)
    queue = client.get("/v1/me/queue", headers=auth).json()
    assert len(queue["new"]) == 3 and set(queue["reps"].values()) == {0}
    assert len(client.get("/v1/me/queue?more=5", headers=auth).json()["new"]) == 8
    first, second = queue["new"][:2]
    body = {"canvas": {"width": 400, "height": 400}, "duration_ms": 9000}
    client.post(  # a failure: stroke 1 backwards three times, never finished
        f"/v1/me/cards/{first}/reviews",
        json={**body, "strokes": written(pack, first, wrong=True)[:1] * 3},
        headers=auth,
    )
    client.post(
        f"/v1/me/cards/{second}/reviews",
        json={**body, "strokes": written(pack, second)},
        headers=auth,
    )
    stats = client.get("/v1/me/stats", headers=auth).json()
    assert stats["hardest"] == [{"kanji": first, "again": 1, "reviews": 1}]
    assert len(stats["forecast"]) == 7 and sum(stats["forecast"]) == 2
    assert client.get("/v1/me/queue", headers=auth).json()["reps"].get(first, 1) >= 1


def test_a_rotated_token_replaces_the_old_one(app_and_time):
    client, _ = app_and_time
    auth = sign_up(client)
    fresh = client.post("/v1/me/token", headers=auth).json()["learner_token"]
    assert client.get("/v1/me/stats", headers=auth).status_code == 401
    assert (
        client.get("/v1/me/stats", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    )
