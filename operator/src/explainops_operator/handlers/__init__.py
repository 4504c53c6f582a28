"""Thin kopf handlers. Importing this package registers every handler with kopf.

`retraining` is optional: it is loaded when the module is present and not switched off with
EXPLAINOPS_OPERATOR_RETRAINING_LOOP=false (serving-only operators then run no per-object timer).
"""

import importlib
import importlib.util

from explainops_operator.handlers import serving
from explainops_operator.settings import get_settings

__all__ = ["serving"]

if (
    get_settings().retraining_loop
    and importlib.util.find_spec("explainops_operator.handlers.retraining") is not None
):
    importlib.import_module("explainops_operator.handlers.retraining")
    __all__.append("retraining")
