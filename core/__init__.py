"""THE GROUND every layer stands on: errors, run-directory I/O, registries, progress, and the
config (declared data, validated before TensorFlow loads). Imports no TensorFlow."""
