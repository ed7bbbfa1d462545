"""Inference: TTA, sliding windows, post-processing, CRF, empty gate, tuning, ONNX.

Kept import-free on purpose: the ONNX prediction path must run without importing PyTorch.
Import from the submodules, e.g. ``sparseg.inference.predictor.Predictor``.
"""
