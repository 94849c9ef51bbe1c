"""The ``interop`` extra: the libraries that write lab reports, imported only when one is
written, so the platform starts without them and a report asked for is refused in words.

Imports: standard library, ``hesuan.domain``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from hesuan.domain.errors import InvalidInput

__all__ = ["interop_module"]


def interop_module(name: str) -> ModuleType:
    """The module ``name`` of the interop extra (``hl7apy.core``, ``fhir.resources.R4B``...)."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise InvalidInput(
            "electronic lab reports need the interop extra: HL7 v2 is written with hl7apy and "
            "FHIR with fhir.resources, which this server does not have (install "
            "hesuan[interop])", code="interop_extra_missing", field="format") from e
