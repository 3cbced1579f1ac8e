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
