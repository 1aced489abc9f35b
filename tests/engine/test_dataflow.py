"""The dataflow on its own: which values carry y_pred's gradient, what cuts it, what is live."""

from __future__ import annotations

import ast
import textwrap

from loss_lsp.engine.chunks import split_blocks, split_lines
from loss_lsp.engine.dataflow import Flow
from loss_lsp.engine.module import build_module
from loss_lsp.engine.values import Val

Y_TRUE = Val(data=True, true=True, tensor=True, rank=2)
Y_PRED = Val(pred=True, data=True, tensor=True, rank=2)


def flow_of(source: str, name: str = "loss") -> Flow:
    lines = split_lines(textwrap.dedent(source))
    module = build_module("t.py", lines, split_blocks(lines))
    fn, block = module.functions[name]
    params = [a.arg for a in fn.args.args]
    return Flow(module, fn, {params[0]: Y_TRUE, params[1]: Y_PRED}, block.start)


def assigned(flow: Flow, name: str) -> Val:
    """The value of the last assignment to ``name`` in the flow's function."""
    value = [n.value for n in ast.walk(flow.fn) if isinstance(n, ast.Assign)
             and any(isinstance(t, ast.Name) and t.id == name for t in n.targets)][-1]
    return flow.val(value)


def call_named(flow: Flow, attr: str) -> ast.Call:
    return next(n for n in flow.walk() if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and n.func.attr == attr)


def test_gradient_flows_through_assignments_and_unpacking() -> None:
    flow = flow_of("""
        import tensorflow as tf
        def loss(y_true, y_pred):
            a = y_pred * 2.0
            b, c = a, y_true
            return tf.reduce_mean(b - c)
        """)
    assert assigned(flow, "a").pred
    assert flow.returned().pred and flow.returned().true
    assert flow.returned().rank == 0  # reduce_mean without an axis


def test_gradient_flows_through_containers() -> None:
    flow = flow_of("""
        import tensorflow as tf
        def loss(y_true, y_pred):
            terms = []
            terms.append(tf.square(y_pred))
            parts = {"a": y_true}
            return tf.add_n(terms) + parts["a"]
        """)
    assert flow.returned().pred


def test_helpers_are_analysed_with_the_callers_values() -> None:
    flow = flow_of("""
        import tensorflow as tf
        def scaled(logits, labels):
            return tf.math.log(logits) * labels
        def loss(y_true, y_pred):
            return tf.reduce_mean(scaled(y_pred, y_true))
        """)
    [(call, helper)] = flow.helpers
    assert helper.fn.name == "scaled"
    assert helper.returned().pred and helper.returned().source_op == ""  # log(x) * labels: product loses it
    log_call = call_named(helper, "log")
    assert helper.val(log_call).source_op == "log"  # log of a value not proven positive
    assert [f.fn.name for f in flow.all_flows()] == ["loss", "scaled"]


def test_numpy_and_stop_gradient_cut_the_gradient() -> None:
    flow = flow_of("""
        import numpy as np
        import tensorflow as tf
        def loss(y_true, y_pred):
            a = np.mean(y_pred)
            b = tf.stop_gradient(y_pred)
            c = y_pred.numpy()
            d = float(tf.reduce_sum(y_pred))
            return a + b + c + d
        """)
    for name in "abcd":
        v = assigned(flow, name)
        assert not v.pred and v.cut, name
    assert not flow.returned().pred


def test_range_facts_guard_a_log() -> None:
    flow = flow_of("""
        import tensorflow as tf
        def loss(y_true, y_pred):
            p = tf.clip_by_value(y_pred, 1e-7, 1.0 - 1e-7)
            q = tf.nn.sigmoid(y_pred)
            return -tf.reduce_mean(y_true * tf.math.log(p) + tf.math.log(1.0 - p) + tf.math.log(q))
        """)
    p, q = assigned(flow, "p"), assigned(flow, "q")
    assert p.positive and p.below_one and p.pred
    assert q.prob == "sigmoid" and not q.positive
    logs = [n for n in flow.nodes(ast.Call) if isinstance(n.func, ast.Attribute) and n.func.attr == "log"]
    assert [flow.val(n).source_op for n in logs] == ["", "", "log"]


def test_hard_ops_rank_and_dtype_mismatches_are_queries() -> None:
    flow = flow_of("""
        import tensorflow as tf
        def loss(y_true, y_pred):
            labels = tf.squeeze(y_true, axis=-1)
            hits = tf.cast(y_pred > 0.5, tf.float32)
            ids = tf.cast(y_true, tf.int32)
            wrong = ids - y_pred
            return tf.reduce_mean(hits * y_true) + tf.reduce_mean(labels - y_pred) + tf.reduce_mean(wrong)
        """)
    compare = next(n for n in flow.nodes(ast.Compare))
    assert flow.hard_op(compare) == "compare"
    assert flow.hard_op(call_named(flow, "squeeze")) is None
    [(node, true_side, pred_side)] = list(flow.rank_mismatches())
    assert isinstance(true_side, ast.Name) and true_side.id == "labels"
    [(node, int_side)] = list(flow.dtype_mismatches())
    assert isinstance(int_side, ast.Name) and int_side.id == "ids"


def test_liveness_ignores_dead_code_and_prints() -> None:
    flow = flow_of("""
        import tensorflow as tf
        def loss(y_true, y_pred):
            debug = tf.math.log(y_pred)
            tf.print(debug)
            total = 0.0
            for k in range(3):
                total += tf.reduce_mean(y_pred) * k
            return total
        """)
    log_call = call_named(flow, "log")
    assert not flow.is_live(log_call)
    assert flow.is_live(call_named(flow, "reduce_mean"))  # inside the loop that builds the return value
    assert log_call not in list(flow.nodes(ast.Call))  # live nodes only by default
    assert log_call in list(flow.nodes(ast.Call, live=False))


def test_cached_results_are_computed_once_per_flow() -> None:
    flow = flow_of("""
        def loss(y_true, y_pred):
            return y_pred
        """)
    calls: list[int] = []

    def compute(f: Flow) -> int:
        calls.append(1)
        return len(f.walk())

    assert flow.cached("size", compute) == flow.cached("size", compute)
    assert len(calls) == 1


def sources_flow(source: str, name: str) -> Flow:
    """The flow of a training function in sources mode: parameters are data, models carry the gradient."""
    lines = split_lines(textwrap.dedent(source))
    module = build_module("t.py", lines, split_blocks(lines))
    fn, block = module.functions[name]
    seeds = {a.arg: Val(data=True, true=True) for a in fn.args.args}
    return Flow(module, fn, seeds, block.start, sources=True)


def test_sources_are_models_layers_variables_and_watched_tensors() -> None:
    flow = sources_flow("""
        import tensorflow as tf
        from keras import layers
        from pipeline import featurize
        def step(model, x, y):
            a = model(x)
            b = layers.Dense(4)(x)
            c = tf.Variable(tf.zeros([4]))
            d = featurize(x)
            e = tf.constant(1.0)
            with tf.GradientTape() as tape:
                tape.watch(e)
                f = e * 2.0
            g = tf.stop_gradient(a)
            return y
        """, "step")
    carries = {name: assigned(flow, name).pred for name in "abcdefg"}
    assert carries == {"a": True, "b": True, "c": True, "d": False, "e": False, "f": True, "g": False}


def test_tensors_kept_on_self_flow_between_statements() -> None:
    lines = split_lines(textwrap.dedent("""
        import tensorflow as tf
        class Net:
            def build(self, x):
                self.w = tf.Variable(tf.zeros([4, 2]))
                self.p = tf.nn.softmax(tf.matmul(x, self.w))
                self.loss = -tf.reduce_sum(tf.math.log(self.p))
        """))
    module = build_module("t.py", lines, split_blocks(lines))
    cls, block = module.classes["Net"]
    fn = cls.body[0]
    flow = Flow(module, fn, {"x": Val(data=True, true=True)}, block.start, cls=cls, sources=True)
    log_call = call_named(flow, "log")
    assert flow.val(log_call.args[0]).pred and flow.val(log_call.args[0]).prob == "softmax"


def test_training_code_reads_module_level_placeholders_and_weights() -> None:
    flow = sources_flow("""
        import tensorflow as tf
        labels = tf.placeholder(tf.int32, [None])
        weights = {"out": tf.Variable(tf.zeros([784, 10]))}
        W = tf.Variable(tf.zeros([784, 10]))
        eps = 1e-7
        def step(x):
            a = labels
            b = tf.matmul(x, weights["out"])
            c = W
            d = eps
            return a
        """, "step")
    a, b, c, d = (assigned(flow, name) for name in "abcd")
    assert (a.pred, a.true, a.integer, a.rank) == (False, True, True, 1)  # data, of its declared dtype and rank
    assert b.pred and c.pred and c.rank == 2  # variables carry the gradient; the initial value gives the rank
    assert not d.pred and d.positive  # a plain constant keeps its constant meaning


def test_tensors_a_class_keeps_on_self_reach_its_other_methods() -> None:
    lines = split_lines(textwrap.dedent("""
        import tensorflow as tf
        class Net:
            def __init__(self, n):
                self.x = tf.placeholder(tf.float32, [None, n])
                self.w = tf.Variable(tf.zeros([n, 2]))
                self.p = tf.nn.softmax(tf.matmul(self.x, self.w))
                self.eps = 1e-7
            def train(self):
                a = self.p
                b = self.x
                c = self.eps
                return a
        """))
    module = build_module("t.py", lines, split_blocks(lines))
    cls, block = module.classes["Net"]
    fn = cls.body[1]
    flow = Flow(module, fn, {}, block.start, cls=cls, sources=True)
    a, b, c = (assigned(flow, name) for name in "abc")
    assert a.pred and a.prob == "softmax"
    assert b.true and not b.pred and b.rank == 2
    assert not c.pred and c.positive


def test_a_model_known_to_end_in_an_activation_outputs_that_probability() -> None:
    flow = sources_flow("""
        import keras
        classifier = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(3, activation="softmax")])
        scorer = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(3)])
        def step(model, x):
            gate = keras.layers.Dense(1, activation=keras.activations.sigmoid)
            a = classifier(x)
            b = scorer(x)
            c = gate(x)
            d = keras.layers.Activation("softmax")(x)
            e = model(x)
            return a
        """, "step")
    probs = {name: assigned(flow, name).ends_in for name in "abcde"}
    assert probs == {"a": "softmax", "b": "", "c": "sigmoid", "d": "softmax", "e": ""}
    assert all(assigned(flow, name).pred for name in "abcde")


def test_the_object_a_call_invokes_is_found_where_it_was_built() -> None:
    flow = sources_flow("""
        import keras
        module_loss = keras.losses.BinaryCrossentropy(from_logits=True)
        def step(x, y, given_loss):
            local_loss = keras.losses.CategoricalCrossentropy()
            a = local_loss(y, x)
            b = module_loss(y, x)
            c = keras.losses.Hinge()(y, x)
            d = given_loss(y, x)
            return a
        """, "step")
    built = {}
    for name in "abcd":
        call = [n.value for n in ast.walk(flow.fn) if isinstance(n, ast.Assign)
                and isinstance(n.targets[0], ast.Name) and n.targets[0].id == name][0]
        constructor = flow.constructor(call)
        built[name] = constructor.func.attr if constructor is not None else None
    assert built == {"a": "CategoricalCrossentropy", "b": "BinaryCrossentropy", "c": "Hinge", "d": None}


def test_a_functional_model_ends_in_its_last_layer_before_it_is_built() -> None:
    flow = sources_flow("""
        import keras
        inputs = keras.Input(shape=(8,))
        hidden = keras.layers.Dense(16, activation="relu")(inputs)
        outputs = keras.layers.Dense(3, activation="softmax")(hidden)
        classifier = keras.Model(inputs, outputs)
        scores = keras.layers.Dense(3)(hidden)
        scorer = keras.Model(inputs=inputs, outputs=scores)
        def step(x):
            a = classifier(x)
            b = scorer(x)
            return a
        """, "step")
    assert (assigned(flow, "a").ends_in, assigned(flow, "b").ends_in) == ("softmax", "")
