"""Resection cavity segmentation: simulation, model, training, test-time augmentation."""
