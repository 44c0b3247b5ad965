"""The four module panels of the web app, in the order of their tabs."""

from .semiology import SemiologyPanel

PANEL_CLASSES = (SemiologyPanel,)
