"""Every exception ticksmith defines derives from its one root, so a caller can catch
ticksmith's own failures apart from everything else."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import ticksmith
from ticksmith.errors import TicksmithError


def test_every_exception_defined_in_the_package_derives_from_the_root() -> None:
    defined = []
    for module_info in pkgutil.walk_packages(ticksmith.__path__, "ticksmith."):
        if module_info.name.endswith(".__main__"):  # runs the command line
            continue
        module = importlib.import_module(module_info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                defined.append(cls)
    names = {c.__name__ for c in defined}
    assert {"TicksmithError", "ConfigError", "BadParameter", "MonitorFailed"} <= names  # found
    outside = sorted(
        f"{c.__module__}.{c.__qualname__}" for c in defined if not issubclass(c, TicksmithError)
    )
    assert not outside, f"not under TicksmithError: {outside}"
