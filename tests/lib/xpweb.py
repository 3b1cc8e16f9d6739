"""Helpers for the tests of the web side: certificates, bcrypt hashes, raw HTTP and response
heads as curl sees them."""
import socket
import ssl
import subprocess


def self_signed(tmp, name="cert"):
    """A certificate for 127.0.0.1 and localhost, by openssl or else GnuTLS's certtool.
    Returns (cert path, key path)."""
    cert, key = tmp.file(name + ".pem"), tmp.file(name + "-key.pem")
    if subprocess.run(["sh", "-c", "command -v openssl"], capture_output=True).returncode == 0:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    else:
        tpl = tmp.file(name + ".cfg", "cn = localhost\nip_address = 127.0.0.1\ndns_name = localhost\n"
                                      "expiration_days = 2\ntls_www_server\n")
        subprocess.run(["certtool", "--generate-privkey", "--outfile", key], check=True, capture_output=True)
        subprocess.run(["certtool", "--generate-self-signed", "--load-privkey", key, "--template", tpl,
                        "--outfile", cert], check=True, capture_output=True)
    return cert, key


def web_yaml(cert=None, key=None, users=None, client_auth=None, client_ca=None, headers=None, extra=""):
    """An exporter-toolkit web config file's text (--web.config.file)."""
    out = ""
    if cert:
        out += "tls_server_config:\n  cert_file: %s\n  key_file: %s\n" % (cert, key)
        if client_auth:
            out += "  client_auth_type: %s\n" % client_auth
        if client_ca:
            out += "  client_ca_file: %s\n" % client_ca
    if headers:
        out += "http_server_config:\n  headers:\n" + "".join('    %s: "%s"\n' % kv for kv in headers.items())
    if users:
        out += "basic_auth_users:\n" + "".join("  %s: %s\n" % kv for kv in users.items())
    return out + extra


def bcrypt_hash(user, password, cost=10):
    r = subprocess.run(["htpasswd", "-nbBC", str(cost), user, password], capture_output=True, text=True, check=True)
    return r.stdout.strip().split(":", 1)[1]


def basic(user, password):
    import base64
    return {"Authorization": "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}


def tls_context(cert):
    return ssl.create_default_context(cafile=cert)


def connect(port, cert=None, timeout=5.0):
    """A socket to 127.0.0.1:port, wrapped in TLS (verified against cert) when cert is given."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    if cert:
        s = tls_context(cert).wrap_socket(s, server_hostname="127.0.0.1")
    return s


def read_response(sock, buf=b"", head=False):
    """Reads one HTTP/1.1 response with a Content-Length body (none when head: the answer
    to a HEAD request) from sock. Returns
    (status, headers {lowercase name: value}, body, leftover bytes) or None when the server
    closed the connection before a whole response came."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    top, _, rest = buf.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = 0 if head else int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return status, headers, rest[:n], rest[n:]


def curl_head(url, *args):
    """(status, {lowercase header: value}) of one request as curl sends it (-X, -u, ...)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-o", "/dev/null", "-D", "-", url] + list(args),
                       capture_output=True, text=True)
    assert r.returncode == 0, (url, args, r.stderr)
    blocks = [b for b in r.stdout.replace("\r\n", "\n").split("\n\n") if b.startswith("HTTP/")]
    lines = blocks[-1].split("\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            headers.setdefault(k.strip().lower(), v.strip())
    return int(lines[0].split()[1]), headers


class Pki:
    """A throwaway certificate authority under tmp (openssl, EC P-256): server certificates for
    127.0.0.1/localhost and client certificates, each signed by this CA."""

    def __init__(self, tmp, name="ca"):
        self.tmp, self.name = tmp, name
        self.cert, self.key = tmp.file(name + ".pem"), tmp.file(name + "-key.pem")
        self._run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-days", "2", "-subj", "/CN=%s test CA" % name, "-keyout", self.key, "-out", self.cert,
                  "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")

    @staticmethod
    def _run(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True)

    def issue(self, name, server=True, cn=None):
        """(cert path, key path) of a new certificate signed by this CA."""
        cert, key, csr = (self.tmp.file("%s.pem" % name), self.tmp.file("%s-key.pem" % name),
                          self.tmp.file("%s.csr" % name))
        ext = self.tmp.file("%s.ext" % name, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
                            if server else "extendedKeyUsage=clientAuth\n")
        self._run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                  "-subj", "/CN=%s" % (cn or name), "-keyout", key, "-out", csr)
        self._run("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key, "-CAcreateserial",
                  "-days", "2", "-out", cert, "-extfile", ext)
        return cert, key


def fingerprint(der):
    import hashlib
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(pem_path):
    with open(pem_path) as f:
        return fingerprint(ssl.PEM_cert_to_DER_cert(f.read()))


def tls_request(port, path="/-/healthy", ca=None, cert=None, key=None, headers=None, timeout=5.0,
                tls_max=None):
    """One request on a new TLS connection. Returns (status, sha256 of the server's certificate).
    Raises (ssl.SSLError, OSError) when the server refuses the handshake, or (ConnectionError)
    when it closes before answering, as with TLS 1.3 a refused client certificate shows."""
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    if tls_max:
        ctx.maximum_version = tls_max
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=timeout), server_hostname="127.0.0.1")
    try:
        peer = fingerprint(s.getpeercert(binary_form=True))
        lines = ["GET %s HTTP/1.1" % path, "Host: 127.0.0.1", "Connection: close"]
        lines += ["%s: %s" % kv for kv in (headers or {}).items()]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        got = read_response(s)
        if got is None:
            raise ConnectionError("closed before an answer")
        return got[0], peer
    finally:
        s.close()
