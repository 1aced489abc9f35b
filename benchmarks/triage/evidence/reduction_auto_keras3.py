"""Evidence for deepchem PoissonLoss (LL406): `reduction='auto'` raises under Keras 3.

deepchem 2.8.0 declares `tensorflow` without an upper bound, so a fresh install gets TF >= 2.16, whose
`tf.keras` is Keras 3. Run: python benchmarks/triage/evidence/reduction_auto_keras3.py
"""

import tensorflow as tf

try:
    tf.keras.losses.Poisson(reduction="auto")
    print("constructed: Keras 2 (tf.keras still accepts 'auto')")
except ValueError as error:
    print(f"ValueError under Keras {tf.keras.__version__}: {str(error)[:80]}")
