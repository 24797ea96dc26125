"""The host log: each line is tagged with the pipeline and stage. Outside a component (a unit
test under plain CPython) lines go to stderr."""

import sys

try:
    from wit_world.imports import host as _host
    from wit_world.imports.types import Level as _Level
except ImportError:  # not inside a component
    _host = None


def _write(level, name, message):
    if _host is not None:
        _host.log(getattr(_Level, name), str(message))
    else:
        print(f"{name}: {message}", file=sys.stderr)


def trace(message):
    _write(0, "TRACE", message)


def debug(message):
    _write(1, "DEBUG", message)


def info(message):
    _write(2, "INFO", message)


def warn(message):
    _write(3, "WARN", message)


def error(message):
    _write(4, "ERROR", message)
