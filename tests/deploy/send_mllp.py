"""The deployment test's lab system (``scripts/deploy-test.sh`` runs it): one HL7 v2 ORU^R01 over
MLLP through nginx's TLS, with a client certificate or none, sent by the platform's own MLLP
client (``adapters.elr.transports``); prints the ACK's MSA-1 (``AA``, ``AE``, ``AR``), or
``refused`` when the connection ends without an ACK (the handshake failed: no certificate, or
not the one this port trusts).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hesuan.adapters.elr.transports import MllpTransport, tls_context
from hesuan.services.elr_queue_ports import ElrFormat, ElrRefused
from hesuan.services.ports import SendInDoubt


def oru(control_id: str, barcode: str) -> bytes:
    """An ORU^R01 as a city lab's system writes it: one detected result for ``barcode``."""
    segments = (
        "MSH|^~\\&|LIS|LAB^12D0000001^CLIA|HESUAN|CITY|20240605120000||ORU^R01^ORU_R01|"
        f"{control_id}|P|2.5.1|||NE|NE|CHN|UNICODE UTF-8",
        "PID|1||P-1^^^CITY||ZHANG^SAN",
        "OBR|1|ORD-1|FIL-1|94531-1^SARS-CoV-2 RNA panel^LN|||20240605100000",
        "OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260373001^Detected^SCT||||||F",
        f"SPM|1|{barcode}&SITE^{barcode}&LAB")
    return "\r".join(segments).encode()


def send(port: int, cafile: Path, cert: Path | None, key: Path | None, control_id: str,
         data: bytes) -> str:
    tls = tls_context(cafile, cert, key)
    try:
        MllpTransport("127.0.0.1", port, timeout=10, tls=tls).deliver(
            control_id, ElrFormat.HL7, data)
    except ElrRefused as e:  # AE or AR, with the ACK's words after the code
        return str(e).split()[0]
    except (SendInDoubt, OSError):  # no ACK: the connection ended at the handshake
        return "refused"
    return "AA"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", type=Path, required=True, help="the server's certificate")
    ap.add_argument("--cert", type=Path, help="the lab's client certificate")
    ap.add_argument("--key", type=Path, help="its key")
    ap.add_argument("--control-id", required=True)
    ap.add_argument("--barcode", required=True)
    args = ap.parse_args()
    print(send(args.port, args.cafile, args.cert, args.key, args.control_id,
               oru(args.control_id, args.barcode)))


if __name__ == "__main__":
    main()
