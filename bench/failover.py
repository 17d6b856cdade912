#!/usr/bin/python3
"""Broker failover: the time without progress after the active broker of a
pair is kill -9'd under load, for bench/RESULTS.md.

    /usr/bin/python3 bench/failover.py [rounds] [docs] [kills]   (default 3 200 3)

Runs tests/test_failover.py's failover_primary_killed_under_load (real
processes on loopback, PostgreSQL, hash embedder) `rounds` times (default
3) at each heartbeat (1000 ms, the default, and 500 ms), and prints each
run's figure ("longest stall in the window after a kill") and, per
heartbeat, the worst. A killed process is seen at once (its kernel closes
the connections); a host that vanishes without closing them (a node lost,
a partition) costs `liveness` heartbeats instead: failover_silent_peer_and_
dual_active prints that figure.
"""
import os, re, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEST = os.path.join(ROOT, "tests", "test_failover.py")


def run(heartbeat, docs, kills):
    env = dict(os.environ, FAILOVER_HEARTBEAT_MS=str(heartbeat), FAILOVER_DOCS=str(docs),
               FAILOVER_KILLS=str(kills))
    env.setdefault("SLUICED", os.path.join(ROOT, "build", "actors", "sluiced"))
    out = subprocess.run(["/usr/bin/python3", TEST, "test_failover_primary_killed_under_load"],
                         capture_output=True, text=True, env=env).stdout
    m = re.search(r"FAILOVER longest time without progress after a kill: ([0-9.]+) s \(steady state "
                  r"before the first kill: ([0-9.]+) s", out)
    silent = subprocess.run(["/usr/bin/python3", TEST, "test_failover_silent_peer_and_dual_active"],
                            capture_output=True, text=True,
                            env=dict(env)).stdout
    s = re.search(r"silent primary: taken over after ([0-9.]+) s", silent)
    if not m:
        print(out[-3000:])
        raise SystemExit("no figure: the run failed")
    return float(m.group(1)), float(m.group(2)), float(s.group(1)) if s else float("nan")


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    docs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    kills = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    for heartbeat in (1000, 500):
        worst = []
        for r in range(rounds):
            stall, steady, silent = run(heartbeat, docs, kills)
            worst.append(stall)
            print("heartbeat %4d ms, round %d: longest stall after a kill %.2f s (steady state %.2f s); "
                  "silent primary taken over after %.2f s" % (heartbeat, r + 1, stall, steady, silent), flush=True)
        print("heartbeat %4d ms: worst of %d rounds x %d kills: %.2f s" % (heartbeat, rounds, kills, max(worst)),
              flush=True)


if __name__ == "__main__":
    main()
