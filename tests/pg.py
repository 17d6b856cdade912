"""pg: a throwaway PostgreSQL server for a test, through tests/pg_server.sh.

    url, folder = pg.start(tmp, port)   # or raises pg.NotInstalled
    ...
    pg.stop(folder)

The server runs as PostgreSQL's own account, so the folders above it (the
test's private temp directories) are opened for traversal first. A
watchdog in pg_server.sh stops the server and removes the folder once this
process is gone, so a test that crashes leaves nothing running. One place
for this, so every PostgreSQL test starts its server the same way.
"""
import os, subprocess, tempfile

PG_SERVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pg_server.sh")


class NotInstalled(Exception):
    """PostgreSQL is not installed here (pg_server.sh exit 77): the reason."""


def start(tmp, port, name="pg"):
    """Start a server on 127.0.0.1:port with its files in tmp/name; returns
    (superuser URL, folder). Raises NotInstalled, or RuntimeError with the
    server's log when it does not start."""
    folder = os.path.join(tmp, name)
    os.makedirs(folder)
    d = folder
    while d not in ("/", "/tmp", tempfile.gettempdir()):
        os.chmod(d, os.stat(d).st_mode | 0o055)      # its own account must reach it
        d = os.path.dirname(d)
    out = subprocess.run(["sh", PG_SERVER, "start", folder, str(port), str(os.getpid())],
                         capture_output=True, text=True)
    if out.returncode == 77:
        raise NotInstalled(out.stderr.strip() or "PostgreSQL is not installed")
    if out.returncode != 0:
        raise RuntimeError("PostgreSQL did not start: " + out.stderr)
    return out.stdout.strip().splitlines()[-1], folder


def stop(folder):
    """Stop the server (fast shutdown); the folder stays for the caller."""
    subprocess.run(["sh", PG_SERVER, "stop", folder], capture_output=True)
