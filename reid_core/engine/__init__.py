"""Lightning module and callbacks of a training run."""
