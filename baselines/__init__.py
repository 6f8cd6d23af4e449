"""WHAT the net must beat: classical baselines behind the scikit-learn estimator API."""
