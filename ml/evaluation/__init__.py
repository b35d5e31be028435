"""Offline evaluation (DESIGN section 8): split, metrics, baselines, blend, `recsys evaluate`."""
