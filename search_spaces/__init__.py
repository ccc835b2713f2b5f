"""search_spaces: see DESIGN.md."""
