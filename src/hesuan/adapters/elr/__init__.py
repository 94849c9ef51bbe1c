"""Outgoing electronic lab reports (ELR): a released result as an HL7 v2.5.1 ORU^R01 message
(:func:`to_hl7_oru`) and as a FHIR R4 message Bundle (:func:`to_fhir_bundle`), pure of storage.

Imports: the interop extra (``hl7apy``, ``fhir.resources``) only when a report is written.
"""

from hesuan.adapters.elr.fhir_bundle import to_fhir_bundle
from hesuan.adapters.elr.hl7_oru import to_hl7_oru

__all__ = ["to_fhir_bundle", "to_hl7_oru"]
