"""What the main window assembles besides its panels: the model toolbar, the image strip, the
inspector that turns chosen images into inspections, and the menus."""
