"""The deployment test's receiving authority (``scripts/deploy-test.sh`` runs it): an MLLP
receiver over TLS that takes a connection only with the city's client certificate, answers each
HL7 v2 message AA, and appends what it received to a JSON-lines file (MSH-9, MSH-10 and the
client certificate's common name). Runs until killed.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading

START, END = b"\x0b", b"\x1c\r"


def _ack(message: bytes) -> bytes:
    msh = message.split(b"\r", 1)[0].decode("utf-8", "replace").split("|")
    control_id = msh[9] if len(msh) > 9 else ""
    return (f"MSH|^~\\&|AUTHORITY|AUTHORITY|{msh[2] if len(msh) > 2 else ''}|"
            f"{msh[3] if len(msh) > 3 else ''}|20240101000000||ACK^R01^ACK|A-{control_id}|P|"
            f"2.5.1\rMSA|AA|{control_id}\r").encode()


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
                message = frame[frame.index(START) + 1:] if START in frame else frame
                fields = message.split(b"\r", 1)[0].decode("utf-8", "replace").split("|")
                with lock, open(out, "a", encoding="utf-8") as f:
                    f.write(json.dumps({"type": fields[8] if len(fields) > 8 else "",
                                        "control_id": fields[9] if len(fields) > 9 else "",
                                        "client": name}) + "\n")
                conn.sendall(START + _ack(message) + END)


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
