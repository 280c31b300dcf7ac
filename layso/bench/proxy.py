"""The shipped nginx configuration (deploy/nginx/layso.conf), run for real on 127.0.0.1 in front of
layso processes: by the nginx test (TLS, as deployed) and by `layso bench --via-nginx` (plain HTTP,
to show what the proxy itself costs).

The file is used as shipped, with only the deployment-specific lines changed: the upstream servers,
the listening addresses, the certificate paths. Debian's nginx (`apt-get install nginx`).
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "layso.conf"


class ProxyError(RuntimeError):
    """nginx is missing or did not start."""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def site_config(upstreams: list[str], port: int, http_port: int, workdir: Path, tls: bool) -> str:
    """The shipped site file with this run's upstreams, ports and (for TLS) a certificate of its own."""
    text = SHIPPED.read_text()
    servers = "".join(f"    server {u} max_fails=3 fail_timeout=10s;\n" for u in upstreams)
    text, n = re.subn(r"(?m)^    server 127\.0\.0\.1:5000 .*\n(    # server .*\n)?", servers, text)
    if n != 1:
        raise ProxyError(f"{SHIPPED}: the upstream block changed shape; update layso/bench/proxy.py")
    text = re.sub(r"(?m)^\s*listen \[::\]:.*\n", "", text)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("root /var/www/html;", f"root {workdir};")
    if tls:
        text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port} ssl http2;")
        text = text.replace("/etc/ssl/layso/fullchain.pem", str(workdir / "cert.pem"))
        text = text.replace("/etc/ssl/layso/privkey.pem", str(workdir / "key.pem"))
    else:
        text = text.replace("listen 443 ssl http2;", f"listen 127.0.0.1:{port};")
        text = re.sub(r"(?m)^\s*(ssl_\w+|add_header Strict-Transport-Security) .*\n", "", text)
    return text


class NginxProxy:
    """nginx with the shipped site file, in a folder of its own, in the foreground of a child process."""

    def __init__(self, workdir: Path, upstreams: list[str], tls: bool = True):
        self.workdir = Path(workdir)
        self.upstreams = upstreams
        self.tls = tls
        self.port = _free_port()
        self.http_port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def _certificate(self) -> None:
        done = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                               "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                               "-keyout", str(self.workdir / "key.pem"), "-out", str(self.workdir / "cert.pem")],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ProxyError(f"openssl could not make a test certificate: {done.stderr[-300:]}")

    def start(self, timeout: float = 15.0) -> "NginxProxy":
        binary = nginx_binary()
        if binary is None:
            raise ProxyError("nginx is not installed (Debian: apt-get install nginx)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.tls:
            self._certificate()
        (self.workdir / "layso.conf").write_text(
            site_config(self.upstreams, self.port, self.http_port, self.workdir, self.tls))
        temp = self.workdir / "temp"
        temp.mkdir(exist_ok=True)
        user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read this folder
        (self.workdir / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {self.workdir / 'nginx.pid'};\n"
            f"error_log {self.workdir / 'error.log'} warn;\n"
            "events { worker_connections 4096; }\n"
            "http {\n  access_log off;\n"
            f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
            f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
            f"  include {self.workdir / 'layso.conf'};\n}}\n")
        check = subprocess.run([binary, "-t", "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf")],
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise ProxyError(f"nginx -t refused the configuration: {check.stderr[-800:]}")
        self.proc = subprocess.Popen([binary, "-p", str(self.workdir), "-c", str(self.workdir / "nginx.conf"),
                                      "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProxyError(f"nginx exited: {self.proc.stderr.read().decode(errors='replace')[-800:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ProxyError("nginx did not start listening in time")

    def pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.proc.pid, *map(int, children)]

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
