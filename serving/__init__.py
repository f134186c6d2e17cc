"""REST scoring service on ONNX Runtime (no torch at serve time)."""
