"""Training and evaluation of the per-stroke grader."""
