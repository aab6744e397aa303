"""The doctor inside other training frameworks (optional extras)."""
