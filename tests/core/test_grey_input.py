"""A network that reads one channel gets the photo's luma, as PIL's "L" mode weighs it."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from cnnscope.core.preprocess import Preprocessing


def test_a_one_channel_model_reads_pils_grey_of_the_crop():
    rgb = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    grey = Preprocessing(32, 32, (0.5,), (0.25,), channels=1)
    x, crop = grey(rgb)
    assert x.shape == (1, 1, 32, 32) and crop.shape == (3, 32, 32)  # the views keep the colour crop
    pil = np.asarray(Image.fromarray(crop.permute(1, 2, 0).numpy()).convert("L"), np.float32) / 255
    np.testing.assert_allclose(x[0, 0].numpy(), (pil - 0.5) / 0.25, atol=1 / 255 / 0.25)
    assert grey.input_shape == (1, 32, 32)
    colour = Preprocessing(32, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert colour(rgb)[0].shape == (1, 3, 32, 32) and colour.input_shape == (3, 32, 32)


def test_the_grey_conversion_passes_gradients_to_every_colour():
    """Feature visualisation and adversarial photos optimise RGB pixels through it."""
    grey = Preprocessing(8, 8, (0.5,), (0.5,), channels=1)
    image = torch.rand(2, 3, 8, 8, requires_grad=True)
    grey.from_unit(image).sum().backward()
    per_colour = image.grad.mean(dim=(0, 2, 3))
    np.testing.assert_allclose(per_colour.numpy(), np.array([0.299, 0.587, 0.114]) / 0.5, rtol=1e-5)
