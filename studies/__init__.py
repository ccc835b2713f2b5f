"""studies: see DESIGN.md."""
