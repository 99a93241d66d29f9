"""Datasets: audio items, the seed papers' folder layouts (:mod:`vocaltools.datasets.layouts`) and
reproducible splits (:mod:`vocaltools.datasets.splits`). See docs/datasets.md."""
