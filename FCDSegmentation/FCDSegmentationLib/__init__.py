"""Logic and helpers of the FCD Segmentation module (MRML, no Qt)."""
