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
