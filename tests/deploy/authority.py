"""The deployment test's receiving authority (``scripts/deploy-test.sh`` runs it): an MLLP
receiver over TLS that takes a connection only with the city's client certificate, answers each
HL7 v2 message AA (python-hl7's ``create_ack``), and appends what it received to a JSON-lines
file (MSH-9, MSH-10 and the client certificate's common name). Runs until killed.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading

import hl7

START, END = b"\x0b", b"\x1c\r"


def _serve(conn: ssl.SSLSocket, out: str, lock: threading.Lock) -> None:
    cert = conn.getpeercert() or {}
    name = next((str(pair[1]) for rdn in cert.get("subject", ()) for pair in rdn
                 if pair[0] == "commonName"), "")
    pending = b""
    with conn:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return
            pending += chunk
            while END in pending:
                frame, pending = pending.split(END, 1)
                message = hl7.parse(frame.lstrip(START).decode("utf-8"))
                msh = message.segment("MSH")
                with lock, open(out, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"type": str(msh[9]), "control_id": str(msh[10]),
                                        "client": name}) + "\n")
                conn.sendall(START + str(message.create_ack("AA")).encode() + END)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True, help="the authority's certificate")
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca", required=True, help="the certificate the city must show")
    ap.add_argument("--out", required=True, help="JSON lines of what was received")
    args = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.load_verify_locations(args.client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    lock = threading.Lock()
    with socket.create_server(("127.0.0.1", args.port)) as server:
        print("authority listening", flush=True)
        while True:
            raw, _ = server.accept()
            try:
                conn = ctx.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                raw.close()  # no certificate, or not the city's
                continue
            threading.Thread(target=_serve, args=(conn, args.out, lock), daemon=True).start()


if __name__ == "__main__":
    main()
