"""A self-signed certificate for the loopback SMTP server's TLS."""

from __future__ import annotations

import subprocess
from pathlib import Path


def self_signed_cert(d: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 in `d`, made with the openssl command line."""
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key
