"""The shipped experiment configs, installed as package data of `pipelines.configs`.

`tasklab run NAME` and `load_config("NAME")` find `NAME.yaml` here from any directory.
"""
