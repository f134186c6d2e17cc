"""Stroke data: KanjiVG references, the stroke format, augmentation, labelled wrong strokes.

Modules here import numpy only, except `torch_data`, which needs torch (training extra).
"""
