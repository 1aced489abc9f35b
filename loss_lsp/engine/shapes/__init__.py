"""Shapes, dtypes and value domains of y_true / y_pred, as the training script makes them.

Sources, strongest first: an in-code hint ``# loss-lsp: shapes y_true=(8,) y_pred=(8, 1)``; the
training script run abstractly (``wiring``: arrays and frames (``arrays``), ``tf.data`` pipelines
(``datasets``), Sequential and functional models (``models``), then compile/fit and custom loops);
then the ``default_shapes`` setting. Unknown stays ``None``: shape rules are quiet then.
"""

from loss_lsp.engine.shapes.hints import HINT, hint_dtype, parse_hint
from loss_lsp.engine.shapes.resolve import Shapes, as_received, for_loss, from_context, is_int_dtype

__all__ = ["HINT", "Shapes", "as_received", "for_loss", "from_context", "hint_dtype", "is_int_dtype", "parse_hint"]
