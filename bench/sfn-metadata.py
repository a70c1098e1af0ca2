"""Benchmark: what the task runtime's registration with the Metaflow metadata service costs a
Step Functions foreach (runner/task-runtime/python/mfcdk_metadata.py, one Registration per job).

A foreach of --width children (default 1,000), --concurrency at a time (as many containers as the
compute environment runs at once), each what a job's runtime does around its command: start the
registration, run the command (``/bin/sh -c 'echo …'``, its output teed to MFLOG files), write a
one-key outputs.json, finish the registration. The same children without registration (no
service) run in the same process first, as the baseline. The datastore is in memory (the S3
puts of logs and blobs are not the service's cost). Prints the service calls per task by kind,
each child's added wall time (median, p90), the time before the command starts, and the
foreach's wall time with and without the service.

  ../shared/peers/start-metadata-service.sh /tmp/mfsvc && . /tmp/mfsvc/env
  METAFLOW_SERVICE_URL=$SERVICE_URL python3 bench/sfn-metadata.py [--width 1000 --concurrency 32]
  # another version of the module, to compare (e.g. the one before a change):
  git show <commit>:runner/task-runtime/python/mfcdk_metadata.py > /tmp/old_md.py
  METAFLOW_SERVICE_URL=$SERVICE_URL python3 bench/sfn-metadata.py --module /tmp/old_md.py
"""
import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))


def load(path):
    spec = importlib.util.spec_from_file_location("mfcdk_metadata_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MemoryStore:
    url = "s3://bench-bucket/metaflow"

    def __init__(self):
        self.objects = {}
        self.lock = threading.Lock()

    def exists(self, key):
        with self.lock:
            return key in self.objects

    def put(self, key, body):
        with self.lock:
            self.objects[key] = body


def child(md, env, store, index, work, register):
    """One job's runtime around its command; (seconds before the command started, seconds in all)."""
    t0 = time.perf_counter()
    task_dir = os.path.join(work, str(index))
    os.makedirs(task_dir)
    reg = md.Registration.from_env(dict(env, MF_STEP="child"), store, "1_%d" % index, task_dir, task_dir) if register else None
    if reg:
        reg.start()
    pipe = subprocess.PIPE if reg else subprocess.DEVNULL
    before = time.perf_counter() - t0
    proc = subprocess.Popen(["/bin/sh", "-c", "echo child %d" % index], stdout=pipe, stderr=pipe)
    tees = reg.tee(proc) if reg else []
    proc.wait()
    for tee in tees:
        tee.join()
    with open(os.path.join(task_dir, "outputs.json"), "w") as f:
        json.dump({"i": index}, f)
    if reg:
        reg.finish(True, task_dir)
        if reg.problem:
            raise RuntimeError(reg.problem)
    return before, time.perf_counter() - t0


def foreach(md, env, width, concurrency, register):
    work = tempfile.mkdtemp(prefix="mfcdk-sfnmd-")
    store = MemoryStore()
    try:
        if register:
            # the split's job registers first (the run, the _parameters task), as on Step Functions
            start = md.Registration.from_env(dict(env, MF_STEP="start"), store, "0", work, work)
            start.start()
            start.finish(True, work)
        t = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            results = list(pool.map(lambda i: child(md, env, store, i, work, register), range(width)))
        return time.perf_counter() - t, results
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--module", default=os.path.join(HERE, "..", "runner", "task-runtime", "python", "mfcdk_metadata.py"))
    args = parser.parse_args()
    url = os.environ.get("METAFLOW_SERVICE_URL")
    if not url:
        sys.exit("set METAFLOW_SERVICE_URL (start the service with ../shared/peers/start-metadata-service.sh)")
    md = load(args.module)
    calls = {}
    lock = threading.Lock()
    real_call = md.Service.call

    def counted(self, method, path, body=None, **options):
        kind = path.rsplit("/", 1)[-1] if not path.count("/") == 2 else "flow"
        with lock:
            calls[kind] = calls.get(kind, 0) + 1
        return real_call(self, method, path, body, **options)

    md.Service.call = counted
    env = {"MF_METADATA_REGISTER": "1", "METAFLOW_SERVICE_URL": url, "METAFLOW_USER": "bench", "MF_FLOW": "SfnMetadataBench",
           "MF_RUN_ID": "sfn-bench-" + uuid.uuid4().hex[:8], "MF_RETRY_COUNT": "0"}
    out, sys.stdout = sys.stdout, open(os.devnull, "w")  # the commands' output, which the registration copies to ours
    try:
        foreach(md, env, min(args.width, 50), args.concurrency, False)  # warm-up
        base_wall, base = foreach(md, env, args.width, args.concurrency, False)
        wall, regd = foreach(md, env, args.width, args.concurrency, True)
    finally:
        sys.stdout.close()
        sys.stdout = out
    per_base = [r[1] for r in base]
    per = [r[1] for r in regd]

    def q(xs, p):
        return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]

    added = statistics.median(per) - statistics.median(per_base)
    total = sum(calls.values())
    print("foreach of %d children, %d at a time, %d cores; module %s" % (args.width, args.concurrency, os.cpu_count(), os.path.relpath(args.module)))
    print("  service calls: %d = %.2f per child (%s), the split's task included" % (total, total / args.width, ", ".join("%s %d" % kv for kv in sorted(calls.items()))))
    print("  child wall time, median (p90): without the service %.1f ms (%.1f), with it %.1f ms (%.1f): +%.1f ms a child (x%.2f)" % (
        statistics.median(per_base) * 1000, q(per_base, 0.9) * 1000, statistics.median(per) * 1000, q(per, 0.9) * 1000, added * 1000,
        statistics.median(per) / statistics.median(per_base)))
    print("  before the command starts, median: without %.2f ms, with %.2f ms" % (statistics.median(r[0] for r in base) * 1000, statistics.median(r[0] for r in regd) * 1000))
    print("  the foreach: without the service %.2f s, with it %.2f s (x%.2f)" % (base_wall, wall, wall / base_wall))


if __name__ == "__main__":
    main()
