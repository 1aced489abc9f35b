"""loss-lsp: static analysis and a language server for Keras/TensorFlow custom losses."""

__version__ = "0.1.0"
