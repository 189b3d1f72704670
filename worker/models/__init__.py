"""Model artifacts: the manifest, hash-checked loading, the ONNX primary and LightGBM fallback."""
