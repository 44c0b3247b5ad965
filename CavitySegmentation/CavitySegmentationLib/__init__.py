"""Logic and helpers of the Cavity Segmentation module (MRML, no Qt)."""
