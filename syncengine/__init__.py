"""syncengine."""
