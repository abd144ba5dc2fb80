"""Task functions for the cluster tests (importable on Dask workers: this folder is on the
``sys.path`` the workers inherit)."""

from __future__ import annotations

import os


def echo(value):
    return value


def die_on(value, fatal):
    """Return ``value``, or end the worker process abruptly when ``value == fatal`` (as a
    notebook that takes its machine down would)."""
    if value == fatal:
        os._exit(1)
    return value
