"""HOW a run goes: the stages in order, resume, the report and the CLI (the top layer).

The Python API in a few lines::

    from tasklab.core.config import load_config
    from tasklab.pipelines.run import run

    result = run(load_config("configs/digits.yaml", overrides=["train.epochs=5"]))
    print(result.run_dir, result.metrics.test["accuracy"])
"""
