#!/usr/bin/python3
"""ingest_folder: ingest every file of a folder with the Python client,
print live progress, then search.

    ingest_folder.py ENDPOINT FOLDER QUERY [CLIENT_CERT BROKER_CERT]

ENDPOINT is the broker (tcp://127.0.0.1:5555); with the two certificate
paths (from `sluiced --keygen`) the link is CURVE-encrypted. Run it with
the package installed, or from the source tree:
    PYTHONPATH=bindings/python /usr/bin/python3 bindings/examples/ingest_folder.py ...
Exit status: 0 if every document was ingested, 1 otherwise.
"""
import os
import sys
import time

import sluice


def main(argv):
    if len(argv) not in (4, 6):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    endpoint, folder, query = argv[1:4]
    keys = {"client_cert": argv[4], "broker_cert": argv[5]} if len(argv) == 6 else {}
    failed = 0
    with sluice.Client(endpoint, timeout=60, **keys) as client:
        names = {}
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if name.startswith(".") or not os.path.isfile(path):
                continue
            while True:
                try:
                    job = client.ingest_file(path)
                    break
                except sluice.Busy as e:          # the pipeline is full: wait as told
                    time.sleep(e.retry_after)
                except sluice.SluiceError as e:
                    print("%-28s refused: %s" % (name, e))
                    failed += 1
                    job = None
                    break
            if job:
                names[job.id] = name
                print("%-28s submitted as job %s" % (name, job.id))

        # One watch follows every job: their events arrive in one loop
        with client.watch(names) as watch:
            for event in watch:
                name = names.get(event.job, "?")
                if event.type == "stage_progress":
                    print("%-28s %-8s %3d%% %s" % (name, event.stage, event.percent or 0, event.message or ""))
                elif event.type == "job_completed":
                    print("%-28s completed -> document %s" % (name, event.document_id))
                elif event.type == "job_failed":
                    print("%-28s FAILED: %s" % (name, event.reason))
                    failed += 1
                else:
                    print("%-28s %s %s" % (name, event.type, event.stage or ""))

        print('\nsearch "%s":' % query)
        for hit in client.search(query, k=5):
            print("  %.3f  %s p.%d  %.70s" % (hit.score, hit.title or hit.document_id, hit.page_start,
                                              hit.text.replace("\n", " ")))
    print("%d submitted, %d failed" % (len(names), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
