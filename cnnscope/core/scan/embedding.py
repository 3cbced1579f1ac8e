"""A dataset's pooled features drawn as a 2-D map: images the network finds alike land close
together. PCA (the two directions of largest variance, exact and fast) or t-SNE (neighbourhoods
kept, clusters drawn apart; scikit-learn's, or openTSNE's when installed: faster on large sets),
or UMAP when umap-learn is installed."""

from __future__ import annotations

import numpy as np

from ..errors import ScanError

METHODS = {"pca": "PCA", "tsne": "t-SNE", "umap": "UMAP"}


def available_methods() -> list[str]:
    """The methods this installation can run (UMAP only with umap-learn)."""
    import importlib.util

    return ["pca", "tsne"] + (["umap"] if importlib.util.find_spec("umap") is not None else [])


def embed(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) features -> (N, 2) float32 coordinates by ``method`` (seeded: the same map each time)."""
    features = np.asarray(features, np.float32)
    if features.ndim != 2 or len(features) < 3:
        raise ScanError("A map needs the features of at least 3 scanned images.")
    if not np.isfinite(features).all():
        raise ScanError("Some images' features are not numbers (NaN or infinity): the model's output "
                        "overflowed; the map cannot be drawn.")
    if method == "pca":
        return _pca(features)
    if method == "tsne":
        return _tsne(features, seed)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ScanError("UMAP needs the umap-learn package: pip install umap-learn.") from None
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(features).astype(np.float32)
    raise ScanError(f"Unknown map method '{method}'; choose one of {', '.join(METHODS)}.")


def _pca(features: np.ndarray) -> np.ndarray:
    from sklearn.decomposition import PCA

    coords = PCA(n_components=2, svd_solver="auto", random_state=0).fit_transform(features)
    return _oriented(coords.astype(np.float32))


def _tsne(features: np.ndarray, seed: int) -> np.ndarray:
    reduced = _pca_to(features, 50)  # the usual first step: faster, and the noise dimensions gone
    perplexity = float(min(30.0, max(2.0, (len(features) - 1) / 3)))
    try:
        from openTSNE import TSNE as OpenTSNE
    except ImportError:
        from sklearn.manifold import TSNE

        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                      learning_rate="auto").fit_transform(reduced)
    else:
        coords = np.asarray(OpenTSNE(n_components=2, perplexity=perplexity, random_state=seed,
                                     n_jobs=1).fit(reduced))
    return coords.astype(np.float32)


def _pca_to(features: np.ndarray, components: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    components = min(components, features.shape[0] - 1, features.shape[1])
    return PCA(n_components=components, random_state=0).fit_transform(features)


def _oriented(coords: np.ndarray) -> np.ndarray:
    """Each axis's sign fixed (its largest value positive), so a map does not flip between runs."""
    for axis in range(coords.shape[1]):
        column = coords[:, axis]
        if abs(column.min()) > abs(column.max()):
            coords[:, axis] = -column
    return coords
