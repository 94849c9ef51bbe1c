"""The deployment test's lab system (``scripts/deploy-test.sh`` runs it): one HL7 v2 ORU^R01 over
MLLP through nginx's TLS, with a client certificate or none; prints the ACK's MSA-1 (``AA``,
``AE``, ``AR``), or ``refused`` when the connection ends without an ACK (the handshake failed:
no certificate, or not the one this port trusts).
"""

from __future__ import annotations

import argparse
import socket
import ssl

START, END = b"\x0b", b"\x1c\r"


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


def send(port: int, cafile: str, cert: str | None, key: str | None, data: bytes) -> str:
    ctx = ssl.create_default_context(cafile=cafile)
    if cert:
        ctx.load_cert_chain(cert, key)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(START + data + END)
            got = b""
            while END not in got:
                chunk = s.recv(65536)
                if not chunk:
                    return "refused"
                got += chunk
    except (ssl.SSLError, ConnectionError):
        return "refused"
    msa = next(seg for seg in got.strip(START + END).split(b"\r") if seg.startswith(b"MSA|"))
    return msa.split(b"|")[1].decode()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cafile", required=True, help="the server's certificate (nginx's)")
    ap.add_argument("--cert", help="the lab's client certificate")
    ap.add_argument("--key", help="its key")
    ap.add_argument("--control-id", required=True)
    ap.add_argument("--barcode", required=True)
    args = ap.parse_args()
    print(send(args.port, args.cafile, args.cert, args.key,
               oru(args.control_id, args.barcode)))


if __name__ == "__main__":
    main()
