"""Guards for the design's own rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "cnnscope" / "core"


def test_core_imports_without_qt():
    """cnnscope.core must work where PySide6 cannot even be imported."""
    modules = [f"cnnscope.core.{p.stem}" for p in CORE.glob("*.py") if p.stem != "__init__"]
    code = ("import sys; sys.modules['PySide6'] = None\n"
            + "".join(f"import {m}\n" for m in modules)
            + "assert not any(k.startswith('PySide6') and sys.modules[k] for k in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(modules) >= 10


def test_views_never_name_models():
    """Model knowledge lives in the registry: no other module tests a model's name."""
    names = ("vgg16", "resnet50", "inception_v3", "mobilenet_v2", "googlenet")
    for path in Path(CORE.parent).rglob("*.py"):
        if path.name == "models.py":
            continue
        text = path.read_text()
        assert not any(f'"{n}"' in text for n in names), path
