"""The four module panels of the web app, in the order of their tabs."""

from .cavity import CavityPanel
from .fcd import FCDPanel
from .semiology import SemiologyPanel
from .video import VideoPanel

PANEL_CLASSES = (SemiologyPanel, FCDPanel, CavityPanel, VideoPanel)
