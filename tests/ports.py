"""ports: free loopback ports for tests that run side by side (ctest -j).

A port that is free when a test probes it can be taken by another test
before the server it was meant for binds it. So every port handed out here
is also reserved: a lock file per port in a shared folder, locked (flock)
by this process for as long as it lives. Another test process skips a
reserved port; the kernel drops the lock when the process ends, so a test
that crashes leaves nothing behind.

Python tests take ports from 20000-29999 (below Linux's ephemeral range,
32768-60999, where the outgoing connections of other tests land); the
browser tests use 30000-31499 and the C tests 31500-32700, so the three
never pick the same port.

    python3 tests/ports.py 2      prints a reserved base of 2 consecutive ports
                                  (shell tests: the lock lives while the
                                  process does, so it is a probe only there)
"""
import fcntl, os, random, socket, sys, tempfile

LOW, HIGH = 20000, 29999
_FOLDER = os.path.join(tempfile.gettempdir(), "sluice-test-ports")
_held = []                 # descriptors of the locks this process holds


def _reserve(port):
    os.makedirs(_FOLDER, exist_ok=True)
    fd = os.open(os.path.join(_FOLDER, str(port)), os.O_CREAT | os.O_RDWR, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n=1):
    """The first of n consecutive ports, free and reserved by this process."""
    for _ in range(500):
        base = random.randint(LOW, HIGH - n + 1)
        fds = []
        for q in range(base, base + n):
            fd = _reserve(q)
            if fd is None or not _free(q):
                if fd is not None:
                    os.close(fd)
                break
            fds.append(fd)
        if len(fds) == n:
            _held.extend(fds)
            return base
        for fd in fds:
            os.close(fd)
    raise RuntimeError("no %d free consecutive ports in %d-%d" % (n, LOW, HIGH))


if __name__ == "__main__":
    print(free_ports(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
