"""The main window's parts, one per tab or mode (mixins of MainWindow)."""
