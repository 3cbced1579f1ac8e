"""The desktop window: PySide6 only, no tensor math (it paints what the engine thread renders)."""
