"""t-SNE maps of embeddings (S2's qualitative check), drawn with matplotlib's Agg backend."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from vocaltools.errors import InputError
from vocaltools.formats.io import atomic_path

MARKERS = "os^vD<>pP*Xh"


@dataclass(frozen=True)
class TsneMap:
    """2-D t-SNE coordinates ``float32 [n, 2]`` and the perplexity actually used."""

    coordinates: np.ndarray
    perplexity: float


def tsne_coordinates(vectors: np.ndarray, *, perplexity: float = 30.0, seed: int = 0) -> TsneMap:
    """Project ``float32 [n, dim] -> [n, 2]`` with scikit-learn's t-SNE (PCA init).

    The perplexity is lowered to ``(n - 1) / 3`` when there are too few points for it."""
    from sklearn.manifold import TSNE

    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    if n < 4:
        raise InputError(f"t-SNE needs at least 4 vectors, got {n}")
    from threadpoolctl import threadpool_limits

    used = float(min(perplexity, (n - 1) / 3))
    # one thread for small maps: OpenMP spin-waiting makes a 20-point map take 15 s instead of
    # 0.4 s on a busy 2-core machine
    with threadpool_limits(limits=1 if n <= 2000 else None):
        coordinates = TSNE(n_components=2, perplexity=used, init="pca", random_state=seed,
                           learning_rate="auto").fit_transform(vectors)
    return TsneMap(coordinates.astype(np.float32), used)


def plot_tsne(tsne: TsneMap, *, colors: Sequence[str], path: str | os.PathLike,
              markers: Sequence[str] | None = None, title: str = "",
              color_name: str = "", marker_name: str = "") -> None:
    """Write a PNG scatter plot of ``tsne`` coloured by ``colors`` (and shaped by ``markers``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = [str(c) for c in colors]
    if len(colors) != len(tsne.coordinates):
        raise InputError(f"{len(tsne.coordinates)} points but {len(colors)} colour values")
    names = sorted(set(colors))
    cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
    marker_names = sorted(set(markers)) if markers is not None else []
    figure, axes = plt.subplots(figsize=(8, 6.5), dpi=110)
    xy = tsne.coordinates
    for c_index, name in enumerate(names):
        chosen = np.array([c == name for c in colors])
        color = cmap(c_index % cmap.N)
        if markers is None:
            axes.scatter(xy[chosen, 0], xy[chosen, 1], s=28, color=color, label=name)
            continue
        labelled = False
        for m_index, marker_value in enumerate(marker_names):
            both = chosen & np.array([m == marker_value for m in markers])
            if both.any():
                axes.scatter(xy[both, 0], xy[both, 1], s=30, color=color,
                             marker=MARKERS[m_index % len(MARKERS)],
                             label=None if labelled else name)
                labelled = True
    legends = []
    if len(names) <= 30:
        colour_legend = axes.legend(title=color_name or None, fontsize=7, loc="upper left",
                                    bbox_to_anchor=(1.0, 1.0), frameon=False)
        legends.append(colour_legend)
        if markers is not None and len(marker_names) <= len(MARKERS):
            axes.add_artist(colour_legend)
            handles = [plt.Line2D([], [], linestyle="", marker=MARKERS[i], color="grey", label=m)
                       for i, m in enumerate(marker_names)]
            legends.append(axes.legend(handles=handles, title=marker_name or None, fontsize=7,
                                       loc="lower left", bbox_to_anchor=(1.0, 0.0), frameon=False))
    axes.set_title(title or f"t-SNE (perplexity {tsne.perplexity:g})"
                   + (f", marker = {marker_name}" if markers is not None and marker_name else ""))
    axes.set_xticks([])
    axes.set_yticks([])
    figure.tight_layout()
    with atomic_path(path) as tmp:
        # the legends sit right of the axes: a tight box keeps them inside the image
        figure.savefig(tmp, format="png", bbox_inches="tight", bbox_extra_artists=legends)
    plt.close(figure)
