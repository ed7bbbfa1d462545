"""Inference: from trained runs (or their saved probabilities, or an ONNX file) to masks.

The jobs behind the commands: :mod:`~sparseg.inference.predict` (``predict``),
:mod:`~sparseg.inference.evaluate` (``evaluate``), :mod:`~sparseg.inference.save_probabilities`,
:mod:`~sparseg.inference.tune`, :mod:`~sparseg.inference.crossval`,
:mod:`~sparseg.inference.selection` (``select``), :mod:`~sparseg.inference.onnx_predict`
(``export`` and ``predict --onnx``). The predictors they use implement
:class:`~sparseg.inference.image_predictor.ImagePredictor`:
:class:`~sparseg.inference.predictor.Predictor` (a run, or an ensemble of runs, each answering
with its model or its :mod:`~sparseg.inference.saved_run`),
:class:`~sparseg.inference.out_of_fold.OutOfFoldPredictor` and
:class:`~sparseg.inference.onnx_predict.OnnxPredictor`. Their parts: the network on one image
(:mod:`~sparseg.inference.model_probability`, :mod:`~sparseg.inference.tta`,
:mod:`~sparseg.inference.windows`), one probability map to a mask
(:mod:`~sparseg.inference.finish`: :mod:`~sparseg.inference.postprocess`,
:mod:`~sparseg.inference.crf`, :mod:`~sparseg.inference.gate`), the files written
(:mod:`~sparseg.inference.mask_files`) and the ONNX graph (:mod:`~sparseg.inference.onnx_export`,
:mod:`~sparseg.inference.onnx_runtime`).

Kept import-free on purpose: the ONNX prediction path must run without importing PyTorch.
"""
