"""WHERE it runs: LiteRT (TFLite) variants, their parity with the Keras model, latency, edge bundle.

The bundle's runner is `tasklab.edge`, copied into every bundle; this package converts,
gates and times the variants (with TensorFlow) and writes the bundle.
"""
