"""Imported first by every script in this folder.

Run as a script, a file here puts this folder first on sys.path, and then ``inspect.py`` here (its
name is fixed by the issue that asked for it) hides the standard library's ``inspect`` module from
numpy, torch and PySide6. This moves the folder to the end of sys.path once this module is found.
"""

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.append(_HERE)  # last: the standard library's inspect wins, and _timing is still found
