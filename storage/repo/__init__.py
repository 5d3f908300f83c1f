"""Repository functions: every query classhub makes, grouped by what it concerns."""
