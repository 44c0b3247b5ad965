"""FCD segmentation: MS-DSA-Net, Dice/BCE/TV losses, training, inference, post-processing, metrics."""
