"""Per-pixel classifiers on a bank of filter responses: the classical segmentation baseline.

This is the approach ilastik made the standard for small segmentation data:
describe every pixel by local filter responses at several scales, then let a
tree ensemble classify pixels. The bank (`filter_bank`) follows ilastik's
pixel features, computed with `scipy.ndimage`:

    colour            each channel as it is
    gaussian s        Gaussian smoothing of each channel
    gradient s        Gaussian gradient magnitude of each channel
    dog s             difference of Gaussians (s and 1.6 s) of each channel
    structure s       both eigenvalues of the gray level's structure tensor
                      (derivatives at s, window 2 s): edges and oriented texture
    position          row and column, as fractions of the image size

`PixelClassifier` fits its inner estimator on a sample of the labelled
pixels (the ignore label is never a target) and predicts every pixel, so its
`predict_proba` has the shape of a segmentation model's output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from tasklab.core.segmentation_metrics import IGNORE

SIGMAS = (0.7, 1.6, 3.5)
BATCH_PIXELS = 1 << 20  # Pixels whose responses are held at once (~40 float32 each).
DOG_RATIO = 1.6  # ilastik's (and Marr-Hildreth's) ratio of the two Gaussians.


def filter_bank(
    images: np.ndarray, sigmas: Sequence[float] = SIGMAS
) -> tuple[np.ndarray, list[str]]:
    """Every pixel's filter responses.

    Args:
        images: `(images, height, width, channels)`, any numeric type.
        sigmas: the scales in pixels.

    Returns:
        `(images, height, width, features)` float32 responses and one name per feature.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4:
        raise ValueError(f"Expected (images, height, width, channels). Received: {images.shape}.")
    count, height, width, channels = images.shape
    features: list[np.ndarray] = []
    names: list[str] = []

    def add(response: np.ndarray, name: str) -> None:
        features.append(response.astype(np.float32))
        names.append(name)

    spatial = lambda sigma: (0, sigma, sigma)  # noqa: E731  (smooth within each image only)
    for channel in range(channels):
        plane = images[..., channel]
        add(plane, f"colour c{channel}")
        for sigma in sigmas:
            smooth = ndimage.gaussian_filter(plane, spatial(sigma))
            add(smooth, f"gaussian {sigma:g} c{channel}")
            add(
                ndimage.gaussian_gradient_magnitude(plane, spatial(sigma)),
                f"gradient {sigma:g} c{channel}",
            )
            wider = ndimage.gaussian_filter(plane, spatial(sigma * DOG_RATIO))
            add(smooth - wider, f"dog {sigma:g} c{channel}")
    gray = images.mean(axis=-1)
    for sigma in sigmas:
        for index, eigenvalue in enumerate(structure_tensor_eigenvalues(gray, sigma)):
            add(eigenvalue, f"structure {sigma:g} e{index + 1}")
    rows, cols = np.meshgrid(
        np.linspace(0, 1, height, dtype=np.float32),
        np.linspace(0, 1, width, dtype=np.float32),
        indexing="ij",
    )
    add(np.broadcast_to(rows, (count, height, width)), "position row")
    add(np.broadcast_to(cols, (count, height, width)), "position column")
    return np.stack(features, axis=-1), names


def structure_tensor_eigenvalues(gray: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The larger and smaller eigenvalue of the structure tensor of `(images, h, w)` planes.

    The tensor averages the outer product of the gradient (Gaussian derivatives
    at `sigma`) over a Gaussian window of `2 sigma`.
    """
    derivative = lambda order: ndimage.gaussian_filter(gray, (0, sigma, sigma), order=order)  # noqa: E731
    d_row, d_col = derivative((0, 1, 0)), derivative((0, 0, 1))
    window = (0, 2 * sigma, 2 * sigma)
    rr = ndimage.gaussian_filter(d_row * d_row, window)
    cc = ndimage.gaussian_filter(d_col * d_col, window)
    rc = ndimage.gaussian_filter(d_row * d_col, window)
    half_trace = (rr + cc) / 2
    spread = np.sqrt(((rr - cc) / 2) ** 2 + rc**2)
    return half_trace + spread, half_trace - spread


class PixelClassifier(ClassifierMixin, BaseEstimator):
    """Classifies every pixel from its filter responses (`filter_bank`).

    Args:
        estimator: makes the unfitted per-pixel classifier (`predict_proba` on rows).
        max_pixels: the most labelled pixels it trains on, drawn at random
            (with early stopping, as many validation pixels again at most).
        sigmas: the filter scales.
        random_state: seeds the pixel sample.
    """

    def __init__(
        self,
        estimator: Callable[[], BaseEstimator],
        max_pixels: int = 200_000,
        sigmas: Sequence[float] = SIGMAS,
        random_state: int = 0,
    ):
        self.estimator = estimator
        self.max_pixels = max_pixels
        self.sigmas = sigmas
        self.random_state = random_state

    def fit(self, images: np.ndarray, masks: np.ndarray, eval_set=None) -> PixelClassifier:
        """Fits on a sample of the labelled pixels of `images`.

        Args:
            images: `(images, height, width, channels)`.
            masks: `(images, height, width)` class indices, `IGNORE` where unlabelled.
            eval_set: `(images, masks)` for the inner estimator's early stopping.

        Returns:
            self.
        """
        rng = np.random.default_rng(self.random_state)
        masks = np.asarray(masks)
        labelled = masks[masks != IGNORE]
        self.n_classes_ = int(labelled.max(initial=0)) + 1
        x, y, self.feature_names_ = self._sample(images, masks, rng)
        model = self.estimator()
        if eval_set is not None:
            x_val, y_val, _ = self._sample(*eval_set, rng)
            seen = np.isin(y_val, y)  # A class the training pixels lack cannot be scored.
            model.fit(x, y, eval_set=(x_val[seen], y_val[seen]))
        else:
            model.fit(x, y)
        self.model_ = model
        self.classes_ = np.arange(self.n_classes_)
        return self

    def predict_proba(self, images: np.ndarray) -> np.ndarray:
        """Every pixel's class probabilities: `(images, height, width, classes)`."""
        check_is_fitted(self)
        images = np.asarray(images)
        result = np.zeros((*images.shape[:3], self.n_classes_), dtype=np.float32)
        known = np.asarray(self.model_.classes_, dtype=np.int64)
        step = _batch_images(images.shape)
        for start in range(0, len(images), step):  # Bounded memory: the bank is ~40x the image.
            features, _ = filter_bank(images[start : start + step], self.sigmas)
            probabilities = self.model_.predict_proba(features.reshape(-1, features.shape[-1]))
            block = np.zeros((len(probabilities), self.n_classes_), dtype=np.float32)
            block[:, known] = probabilities
            result[start : start + step] = block.reshape(result[start : start + step].shape)
        return result

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Every pixel's most probable class: `(images, height, width)`."""
        return self.predict_proba(images).argmax(axis=-1)

    def filter_importances(self) -> dict[str, float]:
        """Each filter response's share of the inner estimator's importance (empty if none)."""
        check_is_fitted(self)
        importances = getattr(self.model_, "feature_importances_", None)
        if importances is None:
            return {}
        importances = np.asarray(importances, dtype=np.float64)
        total = importances.sum()
        scaled = importances / total if total > 0 else importances
        return dict(zip(self.feature_names_, (float(v) for v in scaled), strict=True))

    def _sample(
        self, images: np.ndarray, masks: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The filter responses and labels of up to `max_pixels` labelled pixels, and the
        responses' names."""
        masks = np.asarray(masks)
        where = np.flatnonzero(masks.reshape(-1) != IGNORE)
        if len(where) > self.max_pixels:
            where = np.sort(rng.choice(where, size=self.max_pixels, replace=False))
        pixels = masks.shape[1] * masks.shape[2]
        chosen_images = np.unique(where // pixels)
        rows, labels, names = [], [], []
        step = _batch_images(np.shape(images))
        for start in range(0, len(chosen_images), step):
            batch = chosen_images[start : start + step]
            features, names = filter_bank(np.asarray(images)[batch], self.sigmas)
            flat = features.reshape(len(batch) * pixels, -1)
            # Positions of the sampled pixels within this batch's flattened features.
            in_batch = where[np.isin(where // pixels, batch)]
            position = np.searchsorted(batch, in_batch // pixels) * pixels + in_batch % pixels
            rows.append(flat[position])
            labels.append(masks.reshape(-1)[in_batch])
        return np.concatenate(rows), np.concatenate(labels).astype(np.int64), names


def _batch_images(shape: Sequence[int]) -> int:
    """How many images of `shape` (images, height, width, ...) to filter at once."""
    return max(1, BATCH_PIXELS // max(1, shape[1] * shape[2]))
