"""ONNX and CoreML export of the per-stroke grader."""
