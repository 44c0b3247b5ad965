"""EpilepsySuite in the browser: the four module panels as a trame-slicer web app."""
