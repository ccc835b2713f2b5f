"""Person re-identification trainer on PyTorch Lightning, TAO re_identification compatible."""
