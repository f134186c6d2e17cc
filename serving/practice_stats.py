"""A learner's practice statistics, as pure functions over the rows the store reads: the
cards (at most a deck's worth) and one row per day practised, never the review logs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

RETENTION_DAYS = 30
FORECAST_DAYS = 7
HARDEST = 5


@dataclass
class LearnerStats:
    cards: int
    due_today: int
    reviews: int
    streak_days: int
    retention_30d: float | None  # share of reviews (not first sightings) not rated Again
    forecast: list[int]  # reviews falling due on each of the next 7 days (today first)
    hardest: list[dict]  # the kanji most often rated Again: kanji, again, reviews


@dataclass
class CardCounts:
    """What the stats need of one card."""

    kanji: str
    reps: int
    agains: int
    due: datetime


@dataclass
class DayCounts:
    """One day of practice (UTC): reviews, repeat reviews, repeats recalled (not Again)."""

    day: date
    reviews: int
    repeats: int
    recalled: int


def streak(days: Iterable[date], today: date) -> int:
    """Consecutive days practised up to today (or up to yesterday: today may still come)."""
    practised = set(days)
    day = today if today in practised else today - timedelta(days=1)
    count = 0
    while day in practised:
        count, day = count + 1, day - timedelta(days=1)
    return count


def retention(days: Iterable[DayCounts], today: date) -> float | None:
    """Share of repeat reviews recalled in the last ``RETENTION_DAYS`` days (``None``: no
    repeat reviews then)."""
    since = today - timedelta(days=RETENTION_DAYS)
    recent = [d for d in days if d.day >= since]
    repeats = sum(d.repeats for d in recent)
    return sum(d.recalled for d in recent) / repeats if repeats else None


def forecast(dues: Iterable[datetime], today: date) -> list[int]:
    """Reviews falling due on each of the next ``FORECAST_DAYS`` days (overdue: today)."""
    counts = [0] * FORECAST_DAYS
    for due in dues:
        offset = max(0, (due.date() - today).days)
        if offset < FORECAST_DAYS:
            counts[offset] += 1
    return counts


def hardest(cards: Iterable[CardCounts]) -> list[dict]:
    """The kanji most often rated Again (then most reviewed, then by character)."""
    ranked = sorted((c for c in cards if c.agains), key=lambda c: (-c.agains, -c.reps, c.kanji))
    return [{"kanji": c.kanji, "again": c.agains, "reviews": c.reps} for c in ranked[:HARDEST]]


def learner_stats(cards: list[CardCounts], days: list[DayCounts], now: datetime) -> LearnerStats:
    """The stats view of one learner, from every card and every day practised."""
    today = now.date()
    reviewed = [c for c in cards if c.reps]
    return LearnerStats(
        cards=len(cards),
        due_today=sum(c.due <= now for c in reviewed),
        reviews=sum(c.reps for c in cards),
        streak_days=streak((d.day for d in days), today),
        retention_30d=retention(days, today),
        forecast=forecast((c.due for c in reviewed), today),
        hardest=hardest(cards),
    )
