"""Galleries: references, human-like variants and labelled wrong strokes, drawn with matplotlib."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kanjiwrite.datasets.contract import CORRECT, KANJIVG_CANVAS, LABELS, one_per_label
from kanjiwrite.datasets.kanjivg import KanjiRef
from kanjiwrite.datasets.synthesis import Attempt

COLOURS = one_per_label(
    {
        "correct": "#1f2937",
        "wrong_direction": "#dc2626",
        "wrong_order": "#ea580c",
        "wrong_shape": "#9333ea",
        "misplaced": "#2563eb",
        "extra": "#059669",
    },
    "render.COLOURS",
)


def _axes_grid(count: int, columns: int):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (count + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_aspect("equal")
        ax.invert_yaxis()
    for ax in axes.flat[count:]:
        ax.axis("off")
    return fig, list(axes.flat)


def draw_strokes(ax, strokes: list[np.ndarray], colours: list[str], canvas=None) -> None:
    """Draw strokes with a dot at each start (the pen-down point) and the canvas frame."""
    for stroke, colour in zip(strokes, colours, strict=True):
        ax.plot(stroke[:, 0], stroke[:, 1], "-", color=colour, lw=2.2, solid_capstyle="round")
        ax.plot(stroke[0, 0], stroke[0, 1], "o", color=colour, ms=3.5)
    if canvas is not None:
        w, h = canvas
        ax.plot([0, w, w, 0, 0], [0, 0, h, h, 0], color="#d1d5db", lw=0.8)
        ax.set_xlim(-0.02 * w, 1.02 * w)
        ax.set_ylim(1.02 * h, -0.02 * h)


def draw_attempt(ax, attempt: Attempt, highlight_errors: bool = True) -> None:
    """An attempt in its canvas; wrong strokes in their label's colour."""
    colours = [
        COLOURS[LABELS[label]] if highlight_errors else COLOURS[LABELS[CORRECT]]
        for label in attempt.labels
    ]
    draw_strokes(ax, attempt.drawn, colours, attempt.canvas)


def save_overview(ref: KanjiRef, attempts: list[Attempt], out: Path) -> Path:
    """The reference (numbered strokes) followed by attempts, titled by their labels."""
    fig, axes = _axes_grid(1 + len(attempts), 4)
    draw_strokes(
        axes[0], ref.strokes, [COLOURS[LABELS[CORRECT]]] * ref.stroke_count, KANJIVG_CANVAS
    )
    for i, stroke in enumerate(ref.strokes):
        axes[0].annotate(
            str(i + 1),
            stroke[0],
            color="#6b7280",
            fontsize=7,
            xytext=(-6, -6),
            textcoords="offset points",
        )
    axes[0].set_title(
        f"U+{ord(ref.char):04X} reference\n{ref.stroke_count} strokes, "
        f"{len(ref.alternative_orders)} alt orders",
        fontsize=8,
    )
    for ax, attempt in zip(axes[1:], attempts, strict=False):
        draw_attempt(ax, attempt)
        wrong = sorted({LABELS[label] for label in attempt.labels} - {"correct"})
        canvas = f"{attempt.canvas[0]:.0f}x{attempt.canvas[1]:.0f}px"
        ax.set_title(f"{', '.join(wrong) or 'all correct'}\n{canvas}", fontsize=8)
    return save_figure(fig, out)


def save_label_gallery(items: list[tuple[Attempt, int]], label: str, out: Path) -> Path:
    """Examples of one label: each attempt cut after the labelled stroke, that stroke in
    colour and the strokes before it in grey."""
    fig, axes = _axes_grid(len(items), 6)
    for ax, (attempt, k) in zip(axes, items, strict=False):
        strokes = attempt.drawn[: k + 1]
        draw_strokes(ax, strokes, ["#9ca3af"] * k + [COLOURS[label]], attempt.canvas)
        ax.set_title(f"U+{ord(attempt.kanji):04X} stroke {k + 1}", fontsize=8)
    fig.suptitle(label, fontsize=12)
    return save_figure(fig, out)


def save_figure(fig, out: Path) -> Path:
    """Save a matplotlib figure as PNG (folders made) and close it."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
