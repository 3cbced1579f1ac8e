"""How architecture graphs look: colours per kind of node and the sizes boxes are laid out for.

Plain constants (no torch, no Qt): the layout, the SVG/PNG writers and the window share them."""

# (fill, border) per node kind: light fills keep dark text readable on a projector
KIND_COLOURS = {
    "input": ("#e9ecef", "#495057"), "conv": ("#d0ebff", "#1c7ed6"),
    "linear": ("#ffe8cc", "#e8590c"), "norm": ("#e5dbff", "#7048e8"),
    "activation": ("#ffe3e3", "#e03131"), "pool": ("#d3f9d8", "#2f9e44"),
    "add": ("#fff3bf", "#e67700"), "concat": ("#c5f6fa", "#0c8599"),
    "multiply": ("#ffdeeb", "#c2255c"), "reshape": ("#f1f3f5", "#868e96"),
    "other": ("#f1f3f5", "#868e96"), "block": ("#dbe4ff", "#364fc7"),
}
KIND_NAMES = {"input": "input", "conv": "convolution", "linear": "fully connected",
              "norm": "normalisation", "activation": "activation", "pool": "pooling",
              "add": "sum (shortcut)", "concat": "concatenation", "multiply": "multiply (attention)",
              "reshape": "reshape", "other": "other", "block": "block (collapsed)"}
TITLE_PX, SMALL_PX = 13, 11  # font sizes the boxes are sized for
CHAR_W = 0.62  # average glyph width per pixel of font size (sans-serif, bold titles a bit wider)
LINE_H, PAD_X, PAD_Y = 16, 10, 6
X_SPACE, Y_SPACE, MARGIN = 24, 28, 20
