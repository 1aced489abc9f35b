"""Lift training code into a loss the gradient check can call: ``def f(y_true, y_pred)``.

A computation found from its sink (a tape block, ``train_step``, ``compute_loss``, ``add_loss``,
``minimize``, TF1 graph code) has no ``(y_true, y_pred)`` signature. When the path from the model's
output to the differentiated value is straight-line code, it is one: the model output (``model(x)``,
``self(x)``, a sub-layer call, ``tf.matmul(x, W) + b`` over variables, ``compute_loss``'s ``y_pred``)
becomes ``y_pred``, the one data value the path reads (a ``y`` argument, a dataset label, a
placeholder) becomes ``y_true``, and every statement in between is copied in order. The function is
written into the module's text on the original lines (the training code around it is blanked), so
the slicer, the worker and the verdicts see the user's line numbers.

Anything else -- the loss set inside an ``if`` or a loop, carried around a loop, two model outputs,
a variable used directly, a method of the model, a data value besides the labels -- raises
``LiftError`` with the reason; the check then says ``not_run`` with it. Pure Python: no TensorFlow.

The package, by step: ``computation`` finds each sink's lift, ``walk_back`` walks from the differentiated
value back through the statements before it, ``sources`` says what a value is (the model's output, a
variable, the labels), ``declared`` reads the shapes and activations the program states, ``inlining`` and
``branches`` follow helper calls and decided ``if``s, ``rewriting`` and ``writing`` write the function over
the original lines, ``lifted`` is the result (or ``LiftError``, the reason), ``syntax`` the shared AST helpers.
"""

from loss_lsp.gradcheck.lifting.computation import lift
from loss_lsp.gradcheck.lifting.lifted import LIFTED, Lifted, LiftError, in_unit

__all__ = ["LIFTED", "LiftError", "Lifted", "in_unit", "lift"]
