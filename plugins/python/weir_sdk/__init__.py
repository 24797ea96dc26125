"""The Weir plugin SDK for Python: a plugin is one class and one decorator.

    import weir_sdk as weir

    @weir.transform
    class DropEmpty:
        def __init__(self, config: dict):
            self.field = config.get("field", "text")

        def process(self, record: weir.Record, context: weir.Context) -> weir.Outcome:
            if not record.json().get(self.field):
                return weir.Outcome.filter()
            return weir.Outcome.PASS

The module must be named ``plugin.py``; ``scripts/build-plugin.sh DIR`` turns it into a
component of the world named in ``DIR/pyproject.toml`` (``[tool.weir] world = "transform"`` or
``"aggregate"``). The host hands the plugin batches of records; the SDK calls the class once per
record (``process``) or per group (``accumulate``), as the Rust SDK does.

Map of the package:
- ``Record`` (input), ``Output``, ``Outcome``, ``Context``: what a plugin reads and returns.
- ``transform`` / ``aggregate``: the decorators naming the plugin's class.
- ``Reject``: raise it anywhere in ``process`` or ``key`` to reject the record with its message.
- ``log``: the host log (``print`` goes there too, as the stage's stdout).
"""

from ._outcome import Outcome, Output, Reject
from ._record import Context, Record, split_batch
from ._registry import aggregate, transform
from . import log

__all__ = [
    "Context",
    "Outcome",
    "Output",
    "Record",
    "Reject",
    "aggregate",
    "log",
    "split_batch",
    "transform",
]
