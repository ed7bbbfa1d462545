"""Data: reading image/mask pairs, validation, splits, lazy data sets, patch sampling,
the dataset fingerprint and the synthetic ultrasound generator.

Import from the submodules (e.g. ``sparseg.data.discovery.discover_items``): the fingerprint and
readers stay free of PyTorch, so ``sparseg inspect`` starts fast.
"""
