"""Deep Speech 2 (Amodei et al., 2016) in Keras 3 on TensorFlow."""

__version__ = "0.1.0"
