"""The colours of curves and branches (RGB), without Textual."""

TRAIN_COLOR = (86, 182, 194)  # cyan
VAL_COLOR = (229, 152, 75)  # orange
MARKER_COLOR = (150, 150, 150)
PARENT_COLOR = (120, 120, 120)  # the shared history before a fork
# distinct colours for branches and per-head diagnostics (colour-blind friendly order)
PALETTE = ((86, 182, 194), (229, 152, 75), (140, 200, 90), (210, 110, 200), (240, 220, 90), (120, 150, 240),
           (235, 100, 100), (170, 170, 170))
