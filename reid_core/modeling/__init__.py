"""Backbones, the BNNeck baseline and pretrained-weight loading."""
