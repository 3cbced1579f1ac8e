"""Fixtures shared by the core tests: a user's own model file, outside cnnscope's package."""

from __future__ import annotations

import textwrap

import pytest

USER_NET = textwrap.dedent('''
    """A user's own CNN, outside cnnscope's package."""
    import torch
    from torch import nn


    class TinyNet(nn.Module):
        def __init__(self, classes=4):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(16, classes)

        def forward(self, x):
            return self.head(torch.flatten(self.pool(self.body(x)), 1))


    def build():
        torch.manual_seed(0)
        return TinyNet()


    def broken():
        return 1 / 0


    def not_a_model():
        return "hello"
''')



@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_net.py"
    path.write_text(USER_NET)
    return path


@pytest.fixture(scope="session")
def folder(tmp_path_factory):
    """For scans: drawn shapes in class folders, a flat file beside them, and two files that are not images."""
    from cnnscope.core.shapes import write_shape_folder

    root = tmp_path_factory.mktemp("scan-data")
    write_shape_folder(root, per_class=5, seed=4, size=72)
    (root / "arrow" / "broken.png").write_bytes(b"\x89PNG not really")
    (root / "notes.jpg").write_text("a text file called .jpg")
    (root / ".hidden.png").write_bytes(b"skipped: hidden")
    return root
