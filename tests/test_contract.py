"""One contract: the verdict rule training selects checkpoints by is the rule every
runtime decodes with, and every consumer takes the labels and sizes from it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kanjiwrite.datasets import contract
from kanjiwrite.models.decoding import StrokeResult, decode
from kanjiwrite.models.messages import stroke_message
from kanjiwrite.training.validation import validation_metrics


def random_outputs(rng, strokes, reference):
    logits = rng.normal(0, 2, (strokes, len(contract.LABELS)))
    logits[: strokes // 3, contract.LABEL_INDEX["extra"]] += 6  # often the argmax
    labels = rng.integers(0, len(contract.LABELS), strokes)
    past_end = np.arange(strokes) >= reference
    labels[past_end] = contract.EXTRA
    match = rng.dirichlet(np.full(reference + 1, 0.002), strokes)  # mostly sure of one column
    return logits, labels, past_end, match


def test_training_selects_by_the_rule_decoding_ships():
    rng = np.random.default_rng(0)
    strokes, reference = 300, 240
    logits, labels, past_end, match = random_outputs(rng, strokes, reference)
    probs = torch.from_numpy(logits).softmax(-1).numpy()
    order = tuple(range(reference))
    result = decode(probs[None], match[None], [order], strokes)
    shipped = np.array([contract.LABEL_INDEX[s.verdict] for s in result.strokes])
    other = contract.depicts_other(match, np.arange(strokes))
    chosen = validation_metrics(
        torch.from_numpy(logits),
        torch.from_numpy(labels),
        torch.from_numpy(past_end),
        torch.from_numpy(other),
    )
    # which error is named may change in decoding (one story per stroke: a wrong_order
    # that names no other stroke becomes the next error), whether a stroke is accepted not
    accepted, correct = shipped == contract.CORRECT, labels == contract.CORRECT
    assert chosen["val_false_reject"] == (~accepted & correct).sum() / correct.sum()
    assert chosen["val_false_accept"] == (accepted & ~correct).sum() / (~correct).sum()
    # and the rule itself: extra only past the reference, never as a stroke error;
    # wrong_order only for strokes that depict another stroke
    assert (shipped[:reference] != contract.EXTRA).all() and (shipped[reference:] == 5).all()
    assert not ((shipped == contract.LABEL_INDEX["wrong_order"]) & (other < 0)).any()
    assert (shipped == contract.LABEL_INDEX["wrong_order"]).sum() > 10


def test_decide_is_the_stated_rule():
    probs = np.array(
        [
            [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],  # at the threshold: correct
            [0.4, 0.05, 0.05, 0.3, 0.05, 0.15],  # rejected: the likeliest stroke error
            [0.1, 0.0, 0.0, 0.1, 0.0, 0.8],  # extra is never chosen by probability
        ]
    )
    assert contract.decide(probs).tolist() == [0, 3, 3]
    assert contract.decide(probs, np.array([False, False, True])).tolist() == [0, 3, 5]
    assert contract.decide(probs, accept=0.55).tolist() == [1, 3, 3]  # a tie: the first error
    # with the match head: a stroke that depicts another stroke is wrong_order rather than
    # wrong_shape; one that depicts none is never wrong_order
    order_first = np.array([[0.1, 0.1, 0.5, 0.2, 0.05, 0.05]] * 2)
    assert contract.decide(order_first, other=np.array([1, -1])).tolist() == [2, 3]
    assert contract.decide(order_first[:1], other=np.array([0])).tolist() == [2]  # unsure: as is
    assert contract.decide(probs[:2], other=np.array([1, 1])).tolist() == [0, 2]


def test_every_label_has_a_message_and_the_api_schema_lists_them():
    from kanjiwrite.serving.schemas import StrokeVerdict

    for label in contract.LABELS:
        result = StrokeResult(0, label, 0.1, 0, None)  # no story: the label's own sentence
        assert stroke_message(result, None, 3).startswith(("Stroke 1", "This kanji"))
    enum = StrokeVerdict.model_json_schema()["properties"]["verdict"]["enum"]
    assert enum == list(contract.LABELS)


REPO = Path(__file__).resolve().parents[1]
LAYERS = ("datasets", "models", "training", "export", "serving")
PACKAGE = {"kanjiwrite": "kanjiwrite", **{f"kanjiwrite.{f}": f for f in LAYERS}}
NEW_LABEL = "scribbled"
PROBE = """
import importlib, json, sys
sys.meta_path = [f for f in sys.meta_path if "__editable__" not in repr(f)]  # the scratch copy
import numpy as np
from kanjiwrite.datasets import contract
assert contract.__file__.startswith(sys.argv[1]), contract.__file__
outcomes = {}
for name in json.loads(sys.argv[2]):
    try:
        importlib.import_module(name)
        outcomes[name] = None
    except Exception as error:  # what a forgotten label does to this module
        outcomes[name] = f"{type(error).__name__}: {error}"
probs = np.full((2, len(contract.LABELS)), 0.01)
probs[:, -1] = 0.9
outcomes["decide"] = [contract.LABELS[i] for i in contract.decide(probs)]
print(json.dumps(outcomes))
"""


def scratch_with_label(tmp_path, stroke_error: bool) -> tuple[dict, list[str]]:
    """Every module of a scratch copy of the package whose contract has one more label,
    imported in a fresh interpreter: ``{module: None (imported) or the error}``."""
    root = tmp_path / "scratch"
    keep = shutil.ignore_patterns("__pycache__", "*.onnx", "*.pt", "*.mlpackage", "static")
    modules = []
    for name, folder in PACKAGE.items():
        target = root / name.replace(".", "/")
        shutil.copytree(REPO / folder, target, ignore=keep, dirs_exist_ok=True)
        modules += [
            f"{name}.{path.stem}"
            for path in sorted((REPO / folder).glob("*.py"))
            if path.stem != "__init__"
        ]
    contract_file = root / "kanjiwrite/datasets/contract.py"
    text = contract_file.read_text()
    text = text.replace('"misplaced", "extra")', f'"misplaced", "extra", "{NEW_LABEL}")', 1)
    if stroke_error:
        text = text.replace(
            '"wrong_shape", "misplaced")', f'"wrong_shape", "misplaced", "{NEW_LABEL}")', 1
        )
    contract_file.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(root)}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(root), json.dumps(modules)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr[-2000:]
    return json.loads(probe.stdout.splitlines()[-1]), modules


@pytest.mark.slow
@pytest.mark.parametrize("stroke_error", [False, True], ids=["label", "stroke-error"])
def test_a_new_label_fails_loudly_or_is_adopted_everywhere(tmp_path, stroke_error):
    """The contract's promise, checked: with a label added (and, as a stroke error, one the
    model may choose for a rejected stroke) every module either imports, taking the labels
    from the contract, or refuses to with an error naming the label; the places that keep
    something per label (messages, colours, error weights) are among the refusals."""
    outcomes, modules = scratch_with_label(tmp_path, stroke_error)
    refused = {name: error for name, error in outcomes.items() if name in modules and error}
    assert all(NEW_LABEL in error for error in refused.values()), refused
    must_refuse = {"kanjiwrite.models.messages", "kanjiwrite.datasets.render"}
    if stroke_error:
        must_refuse.add("kanjiwrite.datasets.synthesis")
    assert must_refuse <= set(refused)
    imported = [name for name in modules if name not in refused]
    assert "kanjiwrite.datasets.contract" in imported and "kanjiwrite.models.grader" in imported
    assert outcomes["decide"] == [NEW_LABEL if stroke_error else "wrong_direction"] * 2
