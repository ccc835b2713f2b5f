"""Data: Market-1501 folders and archives, samplers, transforms, loaders."""
