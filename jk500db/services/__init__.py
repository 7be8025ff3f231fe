"""Services: the one write path. They validate, flush and never commit."""
