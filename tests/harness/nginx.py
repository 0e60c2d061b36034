"""nginx as a real peer: started from a config of its own in a temp dir, stopped by PID.

`Nginx(directory, servers)` runs one worker with the http block's <servers> (text of
`server { ... }` blocks, `{port}` replaced by the port it listens on) and every temp path
inside <directory>; `tls_directives(cert)` gives a server's TLS lines;
`static_site(directory, files)` writes files for a `root`."""
import os
from pathlib import Path

from harness.net import free_port, wait_port
from harness.procs import LoggedProcess, require_tool

HTTP_CONF = """
{user}worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log {level};
events {{ worker_connections {conns}; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
{servers}
}}
"""


class Nginx:
    def __init__(self, directory, servers, level="info", conns=1024):
        self.bin = require_tool("nginx")
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf = self.dir / "nginx.conf"
        # As root, nginx would run its worker as nobody, who cannot read a test's temp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf.write_text(HTTP_CONF.format(d=self.dir, user=user, level=level, conns=conns,
                                              servers=servers.replace("{port}", str(self.port))))
        self.proc = LoggedProcess([self.bin, "-p", str(self.dir), "-e", str(self.dir / "error.log"),
                                   "-c", str(self.conf), "-g", "daemon off;"], merge=True,
                                  name="nginx")

    def start(self):
        self.proc.start()
        wait_port(self.port, timeout=10, proc=self.proc.proc)
        return self

    def stop(self):
        self.proc.stop()
        self.proc.cleanup()

    def error_log(self):
        p = self.dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""


def tls_directives(cert):
    """The server block's lines for a (certificate, key) pair, TLS 1.3 only (postern
    speaks TLS 1.3 only; nginx 1.22 leaves it out by default); "" for None."""
    if cert is None:
        return ""
    return (f"ssl_certificate {cert[0]};\n        ssl_certificate_key {cert[1]};\n"
            "        ssl_protocols TLSv1.3;")


def static_site(directory, files):
    """Write {relative path: bytes} under <directory>/site; its path (a `root`)."""
    root = Path(directory) / "site"
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root
