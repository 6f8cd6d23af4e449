"""HOW a run goes: data sources, strategy, training, evaluation, report and CLI.

The Python API in a few lines::

    from tasklab.pipelines.config import load_config
    from tasklab.pipelines.run import run

    result = run(load_config("configs/digits.yaml", overrides=["train.epochs=5"]))
    print(result.run_dir, result.metrics["test"]["accuracy"])
"""
