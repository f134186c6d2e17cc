"""Stroke data: KanjiVG references, the stroke format, augmentation, labelled wrong strokes.

Modules here need numpy and scipy (and matplotlib for `render`), except `torch_data`, which
needs torch (training extra). `contract` states the grading contract the rest imports.
"""
