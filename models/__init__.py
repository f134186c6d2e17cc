"""Graders: the geometric baseline (and, later, the learned sequence model)."""
