"""Backends: where scripts run. ``imagej1`` (default) and ``fiji``."""

from .base import Backend, BackendRun, get_backend_class

__all__ = ["Backend", "BackendRun", "get_backend_class"]
