"""Learned-model artifacts shared by training (`ml/`) and serving (candidate-gen).

Each source has one bundle class: training builds it and `save()`s it into a
directory that becomes the MLflow model's artifacts; serving `load()`s the same
directory from `models:/<name>@<alias>`. Bundles hold numpy arrays only (no
TensorFlow, no `implicit` at serving time), keyed by external ids, so a bundle
can be re-aligned to whatever catalog is current.
"""
