"""One module per architecture family, each registering its adapter and blocks (see
:mod:`unrolled_lrp.lrp.adapters`). Every module of this package is imported here, so a new family is one new
file."""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
