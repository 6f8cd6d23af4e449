"""WHERE it runs: LiteRT (TFLite) variants, their parity with the Keras model, latency, edge bundle.

`export.litert` and `export.run` import only numpy and ai_edge_litert, so the
edge reference runner works without TensorFlow; keep this file free of imports.
"""
