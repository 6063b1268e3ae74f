"""Prompt and FIM templates, as data files (installed as ``codeslm.prompts``).

Read them with :mod:`codeslm.templates` and :mod:`codeslm.fim` through ``importlib.resources``.
"""
