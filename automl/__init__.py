"""automl: see DESIGN.md."""
