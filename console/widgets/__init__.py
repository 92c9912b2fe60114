"""Widgets of the console's screens; each reusable one carries its own DEFAULT_CSS."""
