"""HOW a model is fitted: the `tf.distribute` strategy, Keras `fit` with backups and
schedules, the custom multi-worker loop, and the launcher of local worker processes."""
