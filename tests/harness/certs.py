"""Certificates for the tests, made with the openssl CLI (ECDSA P-256): self-signed ones
(self_signed, make_cert) and a CA with leaves (CertFactory)."""
import hashlib
import os
import shutil
import ssl
import subprocess
import time
from pathlib import Path

from .procs import require_tool


def self_signed(directory, name="mitm", cn="localhost", dns=None):
    """A self-signed ECDSA P-256 certificate with CN <cn> (and, with <dns>, that DNS name
    as its subjectAltName) made with the openssl CLI; return (crt path, key path)."""
    require_tool("openssl")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    crt, key = d / f"{name}.pem", d / f"{name}.key"
    argv = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key),
            "-out", str(crt), "-days", "2", "-subj", f"/CN={cn}"]
    if dns:
        argv += ["-addext", f"subjectAltName=DNS:{dns}"]
    r = subprocess.run(argv, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("openssl req -x509 failed:\n" + r.stderr.decode(errors="replace"))
    return crt, key


def pem_fingerprint(pem_path):
    """SHA-256 of the DER form of the (single) certificate in <pem_path>."""
    der = ssl.PEM_cert_to_DER_cert(Path(pem_path).read_text())
    return hashlib.sha256(der).hexdigest()


def live_pair(directory, crt, key):
    """Copy the pair <crt>, <key> to <directory>/server.pem and server.key, dated a minute
    ago (so that a swap changes the mtime even for a one-second checker); return the
    copies' paths."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    live = (d / "server.pem", d / "server.key")
    past = time.time() - 60
    for src, dst in zip((crt, key), live):
        shutil.copy(src, dst)
        os.utime(dst, (past, past))
    return live


def swap_pair(live, crt, key):
    """Replace the files of <live> (a live_pair) with <crt>, <key>: written beside, then
    renamed over, key first."""
    for src, dst in ((key, live[1]), (crt, live[0])):
        tmp = dst.with_suffix(".new")
        shutil.copy(src, tmp)
        os.replace(tmp, dst)


def make_cert(directory, name):
    """A self-signed certificate for DNS name <name> (CN and SAN); return (crt path,
    key path, sha256 of the DER)."""
    crt, key = self_signed(directory, name, cn=name, dns=name)
    return crt, key, pem_fingerprint(crt)


class CertFactory:
    """A test CA and leaf certificates for localhost / 127.0.0.1, ECDSA P-256."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_pem = self.dir / "ca.pem"
        self.ca_key = self.dir / "ca.key"
        cnf = self.dir / "ca.cnf"
        cnf.write_text("[req]\ndistinguished_name = dn\nprompt = no\n"
                       "[dn]\nCN = postern test CA\n"
                       "[v3_ca]\nbasicConstraints = critical,CA:TRUE\n"
                       "keyUsage = critical,keyCertSign,cRLSign\n"
                       "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n")
        self._openssl("req", "-x509", "-config", cnf, "-extensions", "v3_ca",
                      "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-keyout", self.ca_key, "-out", self.ca_pem, "-days", "2")

    @staticmethod
    def _openssl(*args):
        r = subprocess.run(["openssl"] + [str(a) for a in args], capture_output=True,
                           timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n"
                               f"{r.stderr.decode(errors='replace')}")

    def leaf(self, name, serial, cn="localhost", san="DNS:localhost,IP:127.0.0.1"):
        """Make <name>.pem / <name>.key signed by the CA; return (crt path, key path)."""
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        crt = self.dir / f"{name}.pem"
        ext = self.dir / f"{name}.ext"
        ext.write_text("basicConstraints = CA:FALSE\n"
                       "keyUsage = critical,digitalSignature\n"
                       "extendedKeyUsage = serverAuth\n"
                       f"subjectAltName = {san}\n"
                       "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid,issuer\n")
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                      "-subj", f"/CN={cn}")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_pem, "-CAkey", self.ca_key,
                      "-set_serial", str(serial), "-days", "2", "-extfile", ext, "-out", crt)
        return crt, key

    def ec_key(self, name):
        key = self.dir / f"{name}.key"
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", key)
        return key

