"""Exports: TF-Serving SavedModel, TFLite (float / int8), streaming, and a serving client."""
