"""One contract: the verdict rule training selects checkpoints by is the rule every
runtime decodes with, and every consumer takes the labels and sizes from it."""

import numpy as np
import torch

from kanjiwrite.datasets import contract
from kanjiwrite.models.decoding import decode
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
    assert chosen["val_verdict_accuracy"] == (shipped == labels).mean()
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
        assert stroke_message(label, 0, None, 3).startswith(("Stroke 1", "This kanji"))
    enum = StrokeVerdict.model_json_schema()["properties"]["verdict"]["enum"]
    assert enum == list(contract.LABELS)
