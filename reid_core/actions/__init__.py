"""The CLI actions: train, evaluate, inference, export, default_specs, make_dataset."""
