"""Learners' overrides ("I was right") as a labelled real-writing set.

The service stores a learner's claim that a stroke the grader rejected was right
(``POST /v1/me/overrides``: only plausible claims about a stroke of a real review in
progress); ``kanjiwrite data overrides --out DIR`` exports them here:

* ``DIR/overrides.jsonl``: one request per line, in the stroke format of ``strokes.py``
  (strokes as lists of ``[x, y]`` in canvas units, y down, with the ``canvas`` size):
  ``kanji``, ``canvas``, ``strokes``, ``labels`` (per stroke: the strokes before the last
  were accepted by the grader, the last is claimed right, so all ``correct``),
  ``grader_verdicts`` (what the grader said), ``order`` (the stroke order graded against),
  ``p_correct``, ``expected_index`` and ``matched_index`` (the grader's, for the claimed
  stroke), ``model_id``, ``strictness``, ``created_at``, ``claimant`` (a number per learner
  within the export, never the learner's id) and ``claimant_claims`` (that learner's claims
  in all: a retraining can weigh or drop a learner). No learner ids.
* ``DIR/README.md``: counts (per kanji, per claimant) and how to read it.

``read_overrides`` turns the file into ``synthesis.Attempt`` objects, so evaluation (and,
after review, training) takes it like any other set. A claim is a learner's word, not a
verified label: review before training on it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from kanjiwrite.datasets.contract import LABELS
from kanjiwrite.datasets.kanjivg import ReferencePack
from kanjiwrite.datasets.synthesis import Attempt

FILE = "overrides.jsonl"


def write_overrides(records: Iterable[dict], folder: Path) -> Path:
    """Write override records (see module doc) and a README; returns the JSONL path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE
    count, per_kanji, overruled, claimants = 0, Counter(), Counter(), Counter()
    with open(path, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
            per_kanji[record["kanji"]] += 1
            overruled[record["grader_verdicts"][-1]] += 1
            claimants[record["claimant"]] += 1
    top = ", ".join(f"{k} {n}" for k, n in per_kanji.most_common(20))
    most = ", ".join(f"#{c} {n}" for c, n in claimants.most_common(20))
    (folder / "README.md").write_text(
        "# Learner overrides\n\n"
        f"{count} strokes learners said were right after the grader rejected them "
        f"({len(per_kanji)} kanji). Verdicts overruled: "
        + ", ".join(f"{v} {n}" for v, n in overruled.most_common())
        + f".\n\nMost overruled kanji: {top or 'none'}.\n\n"
        f"Claims per claimant ({len(claimants)} learners, numbered within this export): "
        f"{most or 'none'}.\n\n"
        "Read with `kanjiwrite.datasets.overrides.read_overrides(folder, pack)`. A claim is "
        "a learner's word, not a verified label: review before training on it.\n",
        encoding="utf-8",
    )
    return path


def read_overrides(folder: Path, pack: ReferencePack) -> list[Attempt]:
    """The exported overrides as attempts: every stroke labelled as the learner says
    (``labels``), matched to the reference stroke expected at its position."""
    attempts = []
    for line in (Path(folder) / FILE).read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        ref = pack[record["kanji"]]
        order = tuple(record["order"])
        drawn = [np.asarray(s, dtype=np.float64) for s in record["strokes"]]
        labels = np.array([LABELS.index(label) for label in record["labels"]], np.int8)
        matched = np.array([k if k < len(order) else -1 for k in range(len(drawn))], np.int16)
        attempts.append(
            Attempt(
                kanji=ref.char,
                reference=[ref.strokes[i] for i in order],
                drawn=drawn,
                canvas=tuple(record["canvas"]),
                labels=labels,
                matched=matched,
                order=order,
            )
        )
    return attempts
