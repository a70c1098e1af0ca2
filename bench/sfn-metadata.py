"""Benchmark: what the task runtime's registration with the Metaflow metadata service costs a
Step Functions foreach (runner/task-runtime/python/mfcdk_metadata.py, one Registration per job).

A foreach of --width children (default 1,000), --concurrency at a time (as many containers as the
compute environment runs at once), each what a job's runtime does around its command: start the
registration, run the command (``/bin/sh -c 'echo …'``, its output teed to MFLOG files), write a
one-key outputs.json, finish the registration. The same children without registration (no
service) run in the same process first, as the baseline. The datastore is in memory (the S3
puts of logs and blobs are not the service's cost); each run with the service is a new run id.
Prints the service calls per task by kind, each child's wall time (median, p90) and what the
registration adds to it, the time before the command starts, and the foreach's wall time with
and without the service.

  ../shared/peers/start-metadata-service.sh /tmp/mfsvc && . /tmp/mfsvc/env
  METAFLOW_SERVICE_URL=$SERVICE_URL python3 bench/sfn-metadata.py [--width 1000 --concurrency 32]
  # versions of the module side by side (runs alternate, medians of --repeats), e.g. before and after a change:
  git show <commit>:runner/task-runtime/python/mfcdk_metadata.py > /tmp/old_md.py
  METAFLOW_SERVICE_URL=$SERVICE_URL python3 bench/sfn-metadata.py --repeats 3 \
    --module runner/task-runtime/python/mfcdk_metadata.py --module /tmp/old_md.py
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


def load(path, i=0):
    spec = importlib.util.spec_from_file_location("mfcdk_metadata_bench%d" % i, path)
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


def median(xs):
    return statistics.median(xs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--module", action="append", help="a version of mfcdk_metadata.py (repeatable: the runs alternate)")
    args = parser.parse_args()
    url = os.environ.get("METAFLOW_SERVICE_URL")
    if not url:
        sys.exit("set METAFLOW_SERVICE_URL (start the service with ../shared/peers/start-metadata-service.sh)")
    paths = args.module or [os.path.join(HERE, "..", "runner", "task-runtime", "python", "mfcdk_metadata.py")]
    modules = []
    for i, path in enumerate(paths):
        md = load(path, i)
        calls = {}
        lock = threading.Lock()

        def counted(self, method, path, body=None, _real=md.Service.call, _calls=calls, _lock=lock, **options):
            kind = "flow" if path.count("/") == 2 else path.rsplit("/", 1)[-1]
            with _lock:
                _calls[kind] = _calls.get(kind, 0) + 1
            return _real(self, method, path, body, **options)

        md.Service.call = counted
        modules.append((path, md, calls))
    base = []
    runs = {path: [] for path in paths}
    out, sys.stdout = sys.stdout, open(os.devnull, "w")  # the commands' output, which the registration copies to ours
    try:
        env = {"MF_METADATA_REGISTER": "1", "METAFLOW_SERVICE_URL": url, "METAFLOW_USER": "bench", "MF_FLOW": "SfnMetadataBench", "MF_RETRY_COUNT": "0"}
        foreach(modules[0][1], env, min(args.width, 50), args.concurrency, False)  # warm-up
        for _ in range(args.repeats):
            base.append(foreach(modules[0][1], env, args.width, args.concurrency, False))
            for path, md, calls in modules:
                calls.clear()
                run_env = dict(env, MF_RUN_ID="sfn-bench-" + uuid.uuid4().hex[:8])  # a new run each time: its first tasks create it
                wall, results = foreach(md, run_env, args.width, args.concurrency, True)
                runs[path].append((wall, results, dict(calls)))
    finally:
        sys.stdout.close()
        sys.stdout = out

    def q(xs, p):
        return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]

    base_child = median([median([r[1] for r in results]) for _, results in base])
    base_wall = median([wall for wall, _ in base])
    print("foreach of %d children, %d at a time, %d cores, median of %d (runs alternate); without the service: %.1f ms a child, the foreach %.2f s" % (
        args.width, args.concurrency, os.cpu_count(), args.repeats, base_child * 1000, base_wall))
    for path in paths:
        kept = runs[path]
        calls = kept[0][2]
        total = sum(calls.values())
        child = median([median([r[1] for r in results]) for _, results, _ in kept])
        p90 = median([q([r[1] for r in results], 0.9) for _, results, _ in kept])
        before = median([median([r[0] for r in results]) for _, results, _ in kept])
        wall = median([w for w, _, _ in kept])
        print("  %s" % os.path.relpath(path))
        print("    service calls: %d = %.2f per child (%s), the split's task included" % (total, total / args.width, ", ".join("%s %d" % kv for kv in sorted(calls.items()))))
        print("    a child: %.1f ms (p90 %.1f), +%.1f ms for the registration (x%.2f); before its command: %.2f ms" % (
            child * 1000, p90 * 1000, (child - base_child) * 1000, child / base_child, before * 1000))
        print("    the foreach: %.2f s (x%.2f the baseline)" % (wall, wall / base_wall))


if __name__ == "__main__":
    main()
