"""Kanji Write: per-stroke grading of handwritten kanji."""

__version__ = "0.1.0"
