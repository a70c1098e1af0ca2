"""metaflow-cdk task runtime: registers one task with the Metaflow metadata service, from inside its
Batch job, when no runner process is alive to do it (Step Functions).

The compiler names the service in the job's environment the way Metaflow's own @batch does
(METAFLOW_SERVICE_URL: the stack's internal URL when there is one, SERVICE_INTERNAL_URL in the
Metaflow config; METAFLOW_SERVICE_AUTH_KEY, sent as ``x-api-key``; METAFLOW_USER), with
MF_METADATA_REGISTER=1 saying that the job registers itself. The formats
are those of runner/metadata/ (registrar.ts, the runner's registrar): keep both in step.

- at the job's start, in the background (no call waits before the command): the task
  (``t-<task id>``: the service refuses numeric ids), created first; its step, run and flow only
  when the service answers that they are missing (``_create_task``: the execution's name is the
  run id, and every create answers 409 when the object exists, so racing tasks are safe); the
  ``start`` task also the ``_parameters`` task with ``_graph_info`` (from
  ``_mfcdk/graph-info.json`` in the code package) and the parameters; then, once the attempt
  has run for 10 s (START_DEFER_SECONDS; a shorter one sends it with its end, in one call), the
  attempt's metadata and a task heartbeat every 10 s until the job ends (the service refreshes
  the run's heartbeat with it: metaflow-service services/metadata_service/api/task.py,
  tasks_heartbeat);
- between two attempts in the container (a foreach body's retries): the failed attempt's logs,
  its ``attempt-done`` and ``attempt_ok`` False and the next attempt's start, in one call;
- at the end: the last attempt's stdout and stderr as MFLOG files
  (``<attempt>.task_stdout.log``), the values of ``outputs.json`` as artifacts (Python's own
  pickle, gzip, content-addressed under ``<flow>/data/``, as Metaflow's ContentAddressedStore
  stores them) with ``_task_ok`` and ``_success`` and a caught failure under its ``catch.var``,
  and, in parallel, ``attempt-done`` and ``attempt_ok`` (and ``caught``). The ``end`` task's
  ``attempt_ok`` is what marks the run done in the UI.

The service never fails a task: every call has a timeout, transient errors are retried with
backoff inside a bounded time per phase, and whatever went wrong is at most one warning line on
stderr. What the start could not register is tried again at the end.

Python 3.8+ standard library only.
"""
import collections
import gzip
import hashlib
import io
import json
import os
import pickle
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

# The Metaflow version whose formats we write (runner/metadata/registrar.ts METAFLOW_FORMAT_VERSION).
METAFLOW_FORMAT_VERSION = "2.19.38"
PARAMETERS_STEP = "_parameters"
# In the code package's _mfcdk/ (runner/metadata/graph-info.ts writes it): {"graph_info": ..., "parameters": {name: type}}
GRAPH_FILE = "graph-info.json"
# Set by the compiler (runner/sfn/compiler/io-env.ts metadataEnvironment) on jobs that register themselves.
REGISTER_ENV = "MF_METADATA_REGISTER"
ARTIFACT_CONTENT_TYPE = "gzip+pickle-v4"
TRANSIENT = (429, 500, 502, 503, 504)
HEARTBEAT_SECONDS = 10
# How often a running attempt's log files are stored when they grew (the live log; the runner's registrar: LIVE_LOG_MS).
LIVE_LOG_SECONDS = 5
# An attempt's start metadata waits this long for its end, to go in the same call (Metaflow heartbeats every 10 s).
START_DEFER_SECONDS = 10
START_SECONDS = 30
END_SECONDS = 60


def service_task_id(task_id):
    """The service refuses numeric task ids: ours get a prefix (registrar.ts serviceTaskId)."""
    return "t-" + task_id


class Unavailable(Exception):
    """The service did not answer usefully in the time given."""


class Misconfigured(Exception):
    """An answer only a wrong URL or key explains (403, HTML): never retried."""


class Service:
    def __init__(self, url, key):
        self.url = url.rstrip("/")
        self.key = key
        self.deadline = None

    def call(self, method, path, body=None, tries=4, allow=()):
        """(status, parsed body); 409 (exists) is an answer. Retries no answer / 429 / 5xx until the deadline."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"content-type": "application/json"}
        if self.key:
            headers["x-api-key"] = self.key
        last = ""
        for attempt in range(tries):
            if attempt:
                wait = min(0.5 * 2 ** (attempt - 1), 4)
                if self.deadline is not None and time.time() + wait > self.deadline:
                    break
                time.sleep(wait)
            timeout = 5 if self.deadline is None else max(0.5, min(5, self.deadline - time.time()))
            request = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    status, text, kind = response.status, response.read().decode("utf-8", "replace"), response.headers.get("content-type", "")
            except urllib.error.HTTPError as e:
                status, text, kind = e.code, e.read().decode("utf-8", "replace"), e.headers.get("content-type", "") if e.headers else ""
            except (urllib.error.URLError, OSError) as e:
                last = str(getattr(e, "reason", e))
                continue
            if status == 403:
                raise Misconfigured("the metadata service at %s refused the API key (403): check METAFLOW_SERVICE_AUTH_KEY" % self.url)
            if text.lstrip().startswith("<") or "text/html" in kind:
                raise Misconfigured("%s answered %s %s with HTML (%d), not the metadata service's JSON" % (self.url, method, path, status))
            if status in TRANSIENT and status not in allow:
                last = "HTTP %d" % status
                continue
            if status >= 300 and status != 409 and status not in allow:
                raise Misconfigured("the metadata service refused %s %s (%d): %s" % (method, path, status, text[:200]))
            try:
                return status, json.loads(text) if text else None
            except ValueError:
                return status, text
        raise Unavailable("the metadata service at %s did not answer %s %s (%s)" % (self.url, method, path, last or "out of time"))


# How many of a failed attempt's last stderr lines its `_exception` shows (a Python traceback's worth).
EXCEPTION_LOG_LINES = 30


class Pickled:
    """An artifact value already pickled (Registration._artifacts stores the bytes as they are)."""

    def __init__(self, data):
        self.data = data


def task_exception(message, tail):
    """A failed task's ``_exception`` artifact as Metaflow registers one for a step that raised: a
    pickled ``metaflow.exception.MetaflowExceptionWrapper`` (metaflow/exception.py, pickled through
    its ``__reduce__``: the class called with None, then its state set), which the client's
    ``Task.exception`` returns. Written by hand: the image need not have metaflow to import. The
    "stacktrace" is the end of the last attempt's stderr (a Python step's traceback is there), then
    the failure's own line, as the runner's registrar writes it (registrar.ts taskException)."""
    kind = "metaflow_cdk.TaskFailed"
    stacktrace = "%s\n%s: %s\n" % ("\n".join(tail), kind, message) if tail else None
    state = pickle.dumps({"exception": message, "type": kind, "stacktrace": stacktrace}, protocol=2)
    return Pickled(b"\x80\x02cmetaflow.exception\nMetaflowExceptionWrapper\nN\x85R" + state[2:-1] + b"b.")


def _mflog(line, source=b"task"):
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f").encode()
    return b"".join((b"[MFLOG|0|", stamp, b"Z|", source, b"|", str(uuid.uuid4()).encode(), b"]", line.rstrip(b"\r\n").replace(b"\n", b" "), b"\n"))


class LogTee:
    """Copies a child's output stream to ours (CloudWatch) and, in MFLOG lines, to a file."""

    def __init__(self, pipe, out, path):
        self.path = path
        self.tail = collections.deque(maxlen=EXCEPTION_LOG_LINES)  # a failed task's _exception shows them
        self.thread = threading.Thread(target=self._copy, args=(pipe, out), daemon=True)
        self.thread.start()

    def _copy(self, pipe, out):
        # The pipe is always drained to its end (else the command would block on a full pipe);
        # a log file that cannot be written only costs the MFLOG copy.
        try:
            log = open(self.path, "wb")
        except OSError:
            log = None
        for line in iter(pipe.readline, b""):
            self.tail.append(line.rstrip(b"\r\n").decode("utf-8", "replace"))
            try:
                out.write(line)
                out.flush()
            except (OSError, ValueError):
                pass
            if log is not None:
                try:
                    log.write(_mflog(line))
                    log.flush()  # whole lines on disk for the live log's copies
                except OSError:
                    log = None
        if log is not None:
            log.close()
        pipe.close()

    def join(self):
        self.thread.join(timeout=30)


class Registration:
    """One task in the service, every attempt this job makes of it; every public method is safe: it never raises.

    The runtime calls ``start`` before it fetches the inputs (the start is registered in the
    background: no call waits before the command), ``tee`` per attempt, ``retry`` before each
    further attempt in the container (a foreach body's retries), and ``finish`` once at the end.
    """

    def __init__(self, env, store, task_id, code_dir, work_dir):
        self.env = env
        self.store = store
        self.flow = env["MF_FLOW"]
        self.run_id = env["MF_RUN_ID"]
        self.step = env["MF_STEP"]
        self.task_id = service_task_id(task_id)
        self.attempt = int(env.get("MF_RETRY_COUNT", "0") or 0)
        self.user = env.get("METAFLOW_USER") or "unknown"
        self.code_dir = code_dir
        self.work_dir = work_dir
        self.service = Service(env["METAFLOW_SERVICE_URL"], env.get("METAFLOW_SERVICE_AUTH_KEY"))
        self.system_tags = ["user:" + self.user, "runtime:metaflow-cdk", "metaflow_version:" + METAFLOW_FORMAT_VERSION]
        self.created = False
        # per attempt: its start (attempt, datastore, Batch) and its end (attempt-done, attempt_ok, caught) sent
        self.attempts = [self.attempt]
        self.ended = {}
        self.sent = set()
        self.caught = None
        self.failure = None
        self.tails = {}
        self.live = None  # the running attempt's live-log thread's stop event
        self.live_sizes = {}
        self.log_lock = threading.Lock()
        self.stopped = None
        self.beating = threading.Event()
        self.ending = threading.Event()
        self.beats = None
        self.starting = None
        self.problem = None
        self.calls = {}
        self.lock = threading.Lock()
        self.batch = None
        self.others = None
        self.others_problem = None

    @staticmethod
    def from_env(env, store, task_id, code_dir, work_dir):
        """A Registration when the environment names a service, else None."""
        # Only jobs the Step Functions compiler made register themselves (MF_METADATA_REGISTER): on
        # the Batch layer the runner registers, and a step's own METAFLOW_SERVICE_URL is its business.
        if env.get(REGISTER_ENV) != "1" or not env.get("METAFLOW_SERVICE_URL"):
            return None
        if not all(env.get(k) for k in ("MF_FLOW", "MF_RUN_ID", "MF_STEP")):
            return None
        if env["MF_RUN_ID"].isdigit():
            _say("warning: run id %s is numeric, which the metadata service refuses; this run is not registered" % env["MF_RUN_ID"])
            return None
        return Registration(env, store, task_id, code_dir, work_dir)

    # ---- paths and items --------------------------------------------------------------------

    def _run_path(self):
        return "/flows/%s/runs/%s" % (_q(self.flow), _q(self.run_id))

    def _task_path(self, step, task_id):
        return "%s/steps/%s/tasks/%s" % (self._run_path(), _q(step), _q(task_id))

    def _body(self, **extra):
        body = {"user_name": self.user, "tags": [], "system_tags": self.system_tags}
        body.update(extra)
        return body

    def _datum(self, field, value, attempt, kind=None):
        return {"field_name": field, "value": value, "type": kind or field, "user_name": self.user, "tags": ["attempt_id:%d" % attempt]}

    def log_path(self, attempt, stream):
        """Where an attempt's MFLOG copy of a stream is kept until it is stored."""
        return os.path.join(self.work_dir, "%d.task_%s.log" % (attempt, stream))

    def _call(self, kind, method, path, body=None, service=None, **options):
        with self.lock:
            self.calls[kind] = self.calls.get(kind, 0) + 1
        return (service or self.service).call(method, path, body, **options)

    # ---- the attempt's start ----------------------------------------------------------------

    def start(self):
        """Register the task and its first attempt's start in the background, then heartbeat while the job runs."""
        if self.stopped:
            return
        self.starting = threading.Thread(target=self._starting, daemon=True)
        self.starting.start()

    def _starting(self):
        self._guard(START_SECONDS, self._ensure_task)
        if not self.created or self.stopped:
            return
        # An attempt that ends within the first heartbeat's interval sends its start with its end: one call less.
        if self.ending.wait(START_DEFER_SECONDS):
            return
        self._guard(START_SECONDS, self._sync)
        self._beat_on()

    def _beat_on(self):
        """Heartbeats from now on, every 10 s until the job ends (one thread)."""
        if self.beats is None and self.created and not self.stopped and not self.beating.is_set():
            self.beats = threading.Thread(target=self._heartbeats, daemon=True)
            self.beats.start()

    def _joined(self):
        """Wait for the background start (bounded by its own deadline)."""
        if self.starting is not None and self.starting is not threading.current_thread():
            self.starting.join(timeout=START_SECONDS + 6)

    def _ensure_task(self):
        """This job's task (and with the ``start`` task the ``_parameters`` task)."""
        if self.created:
            return
        self._create_task(self.step, self.task_id)
        self.created = True
        if self.step == "start":
            self._parameters_task()

    def _create_task(self, step, task_id, service=None):
        """A task, created first: its flow, run and step only when the service says they are missing; the create's status (409: it existed).

        metaflow-service v2.5.1 answers a task create 409 when the task exists, 404 when its step
        is missing (the foreign key of tasks_v3, data/db_utils.py aiopg_exception_handling) and
        500 when its run is missing (``KeyError: 'run_number'`` in get_run_ids,
        data/postgres_async_db.py, called from api/task.py create_task): so a 404 costs the step,
        anything else the whole chain (every create answers 409 when the object exists).
        """
        task = ("POST", "%s/steps/%s/task" % (self._run_path(), _q(step)), self._body(task_id=task_id))
        try:
            status, _ = self._call("task", *task, service=service, tries=1, allow=(404, 500))
        except Unavailable:
            status = None
        if status in (200, 201, 409):
            return status
        if status != 404:
            self._call("flow", "POST", "/flows/%s" % _q(self.flow), self._body(), service=service)
            self._call("run", "POST", "/flows/%s/run" % _q(self.flow), self._body(run_number=self.run_id), service=service)
        self._call("step", "POST", "%s/steps/%s/step" % (self._run_path(), _q(step)), self._body(step_name=step), service=service)
        status, _ = self._call("task", *task, service=service)
        return status

    def _start_items(self, n):
        items = [self._datum("attempt", str(n), n), self._datum("ds-type", "s3", n), self._datum("ds-root", self.store.url, n)]
        if self.batch is None:
            self.batch = batch_metadata(self.env)
        items.extend(self._datum(field, value, n) for field, value in sorted(self.batch.items()))
        return items

    def _end_items(self, n):
        items = [self._datum("attempt-done", str(n), n), self._datum("attempt_ok", "True" if self.ended[n] else "False", n, "internal_attempt_status")]
        if self.caught and n == self.attempts[-1]:
            items.append(self._datum("caught", str(self.caught["failure"].get("message", "")), n))
        return items

    def _sync(self):
        """The task and every attempt's start and end not sent yet, in one metadata call."""
        self._ensure_task()
        items, sent = [], []
        for n in self.attempts:
            if (n, "start") not in self.sent:
                items.extend(self._start_items(n))
                sent.append((n, "start"))
            if n in self.ended and (n, "end") not in self.sent:
                items.extend(self._end_items(n))
                sent.append((n, "end"))
        if items:
            self._call("metadata", "POST", self._task_path(self.step, self.task_id) + "/metadata", items)
        self.sent.update(sent)

    def _parameters_task(self):
        """The `_parameters` task: `_graph_info` (the UI draws the DAG from it) and the parameter values."""
        self._call("step", "POST", "%s/steps/%s/step" % (self._run_path(), PARAMETERS_STEP), self._body(step_name=PARAMETERS_STEP))
        status, _ = self._call("task", "POST", "%s/steps/%s/task" % (self._run_path(), PARAMETERS_STEP), self._body(task_id=service_task_id("0")))
        if status == 409:
            return  # a retried start: registered by an earlier attempt
        values = {}
        try:
            with open(os.path.join(self.code_dir, "_mfcdk", GRAPH_FILE), encoding="utf-8") as f:
                described = json.load(f)
            values["_graph_info"] = described["graph_info"]
            for name, kind in described.get("parameters", {}).items():
                raw = self.env.get("MF_PARAM_" + name.upper())
                if raw is not None:
                    values[name] = raw if kind == "string" else _json_or_text(raw)
        except (OSError, ValueError, KeyError):
            pass  # a package without the graph (the construct's minimal one): no DAG in the UI
        values["_task_ok"] = values["_success"] = True
        values.setdefault("name", self.flow)  # see _artifacts (a parameter called name takes its place, as in the registrar)
        path = self._task_path(PARAMETERS_STEP, service_task_id("0"))
        self._call("metadata", "POST", path + "/metadata", [self._datum("attempt", "0", 0), self._datum("ds-type", "s3", 0), self._datum("ds-root", self.store.url, 0),
                                                            self._datum("attempt-done", "0", 0), self._datum("attempt_ok", "True", 0, "internal_attempt_status")])
        self._call("artifact", "POST", path + "/artifact", self._artifacts(PARAMETERS_STEP, service_task_id("0"), 0, values))

    def _heartbeats(self):
        path = self._task_path(self.step, self.task_id) + "/heartbeat"
        # A service of its own: the phases' deadlines are not the heartbeats'.
        service = Service(self.service.url, self.service.key)
        while not self.stopped:
            try:
                with self.lock:
                    self.calls["heartbeat"] = self.calls.get("heartbeat", 0) + 1
                service.call("POST", path, {}, tries=1, allow=(404,))
            except Exception:  # noqa: BLE001 - a missed heartbeat is not worth a line
                pass
            if self.beating.wait(HEARTBEAT_SECONDS):
                return

    # ---- a catch step the state machine caught -----------------------------------------------

    def register_caught(self, caught):
        """Tasks the state machine caught (their jobs failed without their runtime), as
        ``(step, task id, var, failure)``: this task registers what their runtime could not, in
        the background: the failure under its var, ``_task_ok``/``_success`` False, and the last
        attempt's ``attempt-done``, ``attempt_ok`` False and ``caught`` (what the service has of
        it is read first, so nothing is sent twice)."""
        if self.stopped:
            return
        self.others = threading.Thread(target=self._register_caught, args=(caught,), daemon=True)
        self.others.start()

    def _register_caught(self, caught):
        service = Service(self.service.url, self.service.key)
        service.deadline = time.time() + START_SECONDS
        try:
            for step, task_id, var, failure in caught:
                self._caught_task(service, step, service_task_id(task_id), var, failure if isinstance(failure, dict) else {})
        except Exception as e:  # noqa: BLE001 - the service is never a reason for a task to fail
            self.others_problem = str(e) if isinstance(e, (Unavailable, Misconfigured)) else "metadata service registration: %r" % (e,)

    def _caught_task(self, service, step, task_id, var, failure):
        n = max(0, int(failure.get("attempts") or 1) - 1)
        path = self._task_path(step, task_id)
        have = set()
        if self._create_task(step, task_id, service) == 409:
            _, listed = self._call("metadata", "GET", path + "/metadata", service=service)
            for m in listed if isinstance(listed, list) else []:
                if "attempt_id:%d" % n in (m.get("tags") or []):
                    have.add(m.get("field_name"))
        items = [] if "attempt" in have else [self._datum("attempt", str(n), n), self._datum("ds-type", "s3", n), self._datum("ds-root", self.store.url, n)]
        ended = [self._datum("attempt-done", str(n), n), self._datum("attempt_ok", "False", n, "internal_attempt_status"), self._datum("caught", str(failure.get("message", "")), n)]
        items.extend(i for i in ended if i["field_name"] not in have)
        if items:
            self._call("metadata", "POST", path + "/metadata", items, service=service)
        # the service keeps the first of an artifact (name, attempt): a second registration adds nothing
        self._call("artifact", "POST", path + "/artifact", self._artifacts(step, task_id, n, {var: failure, "_task_ok": False, "_success": False, "name": self.flow}), service=service)

    # ---- the command's output -----------------------------------------------------------------

    def tee(self, child):
        """Start copying a child's stdout and stderr (Popen with PIPEs) to ours and to the current attempt's MFLOG files."""
        try:
            n = self.attempt
            tees = [LogTee(child.stdout, sys.stdout.buffer, self.log_path(n, "stdout")), LogTee(child.stderr, sys.stderr.buffer, self.log_path(n, "stderr"))]
            self.tails[n] = tees[1].tail
            self._live_on(n)
            return tees
        except Exception as e:  # noqa: BLE001
            self._note(e)
            return []

    def _live_on(self, n):
        """Store attempt ``n``'s log files every LIVE_LOG_SECONDS while it runs, when they grew, so
        the UI and ``task.stdout`` show a running task's output, as Metaflow's Batch tasks upload
        theirs while they run (mflog/save_logs_periodically.py). Stopped by ``retry`` and ``finish``."""
        self._live_off()
        stop = self.live = threading.Event()

        def loop():
            while not stop.wait(LIVE_LOG_SECONDS):
                try:
                    self._store_logs(n, live=True)
                except Exception:  # noqa: BLE001 - a live copy that failed is retried; the end stores them all
                    pass

        threading.Thread(target=loop, daemon=True).start()

    def _live_off(self):
        if self.live is not None:
            self.live.set()
            self.live = None

    # ---- between attempts, and the end ----------------------------------------------------------

    def retry(self, n, failure=None):
        """The current attempt failed and the job makes attempt ``n``: the failed one's logs, end and
        artifacts (``failure``: its one line, for its ``_exception``), ``n``'s start."""
        self._live_off()
        self.ending.set()
        self._joined()
        self.ended[self.attempt] = False
        done = self.attempt
        self.attempt = n
        self.attempts.append(n)
        self._guard(END_SECONDS, lambda: (self._store_logs(done), self._sync(), self._retried_artifacts(done, failure)))
        self._beat_on()

    def _retried_artifacts(self, n, failure):
        """A retried attempt's own artifacts, as Metaflow persists them for each attempt (and as the
        runner's registrar sends them): ``Task(pathspec, attempt=n).exception`` says why it failed."""
        if not failure:
            return
        values = {"name": self.flow, "_task_ok": False, "_success": False, "_exception": task_exception(failure, list(self.tails.get(n, ())))}
        self._call("artifact", "POST", self._task_path(self.step, self.task_id) + "/artifact", self._artifacts(self.step, self.task_id, n, values))

    def finish(self, ok, output_dir, caught=None, failure=None):
        """The last attempt's logs, the task's artifacts and its end; what the start missed, again.

        ``caught``: ``{"var": name or None, "failure": {...}}`` when the runtime caught the task's
        failure: its ``caught`` metadata, and the failure as the artifact ``var`` (as the runner's registrar).
        ``failure``: the failed task's one line (``step s/t failed: ...``), not caught: its ``_exception``.
        """
        self._live_off()
        self.ending.set()
        self._joined()
        self.beating.set()
        self.ended[self.attempt] = bool(ok)
        self.caught = caught
        self.failure = failure
        self._guard(END_SECONDS, lambda: self._finish(ok, output_dir))
        if self.others is not None:
            self.others.join(timeout=START_SECONDS + 6)
            self.problem = self.problem or self.others_problem
        if self.problem:
            _say("warning: %s; %s/%s/%s/%s is not fully registered there (the task goes on)" % (self.problem, self.flow, self.run_id, self.step, self.task_id))

    def _store_logs(self, n, live=False):
        """Attempt ``n``'s log files to the datastore: once at its end, or (``live``) so far, if they grew.
        One at a time: a live copy never lands after the final one."""
        with self.log_lock:
            if (n, "logs") in self.sent or (live and self.stopped):
                return
            prefix = "%s/%s/%s/%s/%d." % (self.flow, self.run_id, self.step, self.task_id, n)
            for stream in ("stdout", "stderr"):
                path = self.log_path(n, stream)
                size = os.path.getsize(path) if os.path.exists(path) else 0
                if size and not (live and self.live_sizes.get((n, stream)) == size):
                    with open(path, "rb") as f:
                        self.store.put(prefix + "task_%s.log" % stream, f.read())
                    self.live_sizes[(n, stream)] = size
            if not live:
                self.sent.add((n, "logs"))

    def _finish(self, ok, output_dir):
        # The logs go to the datastore first, whatever the service does: `metaflow-cdk register` finds them there.
        for n in self.attempts:
            self._store_logs(n)
        self._ensure_task()
        values = {}
        if ok and output_dir:
            outputs = os.path.join(output_dir, "outputs.json")
            if os.path.exists(outputs):
                with open(outputs, encoding="utf-8") as f:
                    loaded = json.load(f)
                if isinstance(loaded, dict):
                    values.update(loaded)
        if self.caught and self.caught.get("var"):
            values[self.caught["var"]] = self.caught["failure"]
        if not ok and not self.caught and self.failure:
            values["_exception"] = task_exception(self.failure, list(self.tails.get(self.attempt, ())))
        # Metaflow's Task.successful / Run.successful read these (the end task's for a run).
        values["_task_ok"] = values["_success"] = bool(ok)
        values.setdefault("name", self.flow)  # see _artifacts
        # The end's metadata (attempt_ok) and the artifacts in parallel: one round trip on the critical path.
        # Metaflow itself registers attempt_ok first and the artifacts after (metaflow/task.py, then TaskDataStore.done).
        ended = {}

        def end():
            try:
                self._sync()
            except Exception as e:  # noqa: BLE001 - raised below, in the guard's thread
                ended["error"] = e

        metadata = threading.Thread(target=end, daemon=True)
        metadata.start()
        try:
            self._call("artifact", "POST", self._task_path(self.step, self.task_id) + "/artifact", self._artifacts(self.step, self.task_id, self.attempt, values))
        finally:
            metadata.join()
        if "error" in ended:
            raise ended["error"]

    def _artifacts(self, step, task_id, attempt, values):
        """Store each value as Metaflow does (sha1 of the pickle, gzip level 3, once) and describe it for the service.

        Every attempt's artifacts include ``name`` (the flow's name), as each Metaflow task's do
        and as the runner's registrar sends them (so ``metaflow-cdk register`` finds nothing
        missing): the service finds a task's latest attempt by that artifact (metaflow-service
        v2.5.1, data/postgres_async_db.py get_artifact) and takes attempt 0 without it, so a
        retried task's ``_success`` would be looked for there and Task.successful read False."""
        out = []
        for name, value in values.items():
            blob = value.data if isinstance(value, Pickled) else pickle.dumps(value, protocol=4)
            sha = hashlib.sha1(blob).hexdigest()
            key = "%s/data/%s/%s" % (self.flow, sha[:2], sha)
            if not self.store.exists(key):
                buf = io.BytesIO()
                with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=3) as f:
                    f.write(blob)
                self.store.put(key, buf.getvalue())
            out.append({"flow_id": self.flow, "run_number": self.run_id, "step_name": step, "task_id": task_id, "attempt_id": attempt, "name": name,
                        "content_type": ARTIFACT_CONTENT_TYPE, "type": "metaflow.artifact", "sha": sha, "ds_type": "s3",
                        "location": ":root:" + self.store.url, "user_name": self.user, "tags": [], "system_tags": self.system_tags})
        return out

    # ---- never fail the task ----------------------------------------------------------------

    def _guard(self, seconds, work):
        if self.stopped:
            return
        self.service.deadline = time.time() + seconds
        try:
            work()
            self.problem = None
        except Misconfigured as e:
            self.stopped = self.problem = str(e)
        except Exception as e:  # noqa: BLE001 - the service is never a reason for a task to fail
            self._note(e)
        finally:
            self.service.deadline = None

    def _note(self, error):
        self.problem = str(error) if isinstance(error, Unavailable) else "metadata service registration: %r" % (error,)


BATCH_FIELDS = (("aws-batch-job-id", "AWS_BATCH_JOB_ID"), ("aws-batch-job-attempt", "AWS_BATCH_JOB_ATTEMPT"),
                ("aws-batch-ce-name", "AWS_BATCH_CE_NAME"), ("aws-batch-jq-name", "AWS_BATCH_JQ_NAME"))


def batch_metadata(env):
    """What Metaflow's @batch records from inside its container (batch_decorator.py, task_pre_step):
    Batch's variables, and the log group, region and stream from the ECS container metadata
    endpoint v4 (its ``LogOptions``: AWS docs, "Amazon ECS task metadata v4 examples"), best effort."""
    out = {field: env[var] for field, var in BATCH_FIELDS if env.get(var)}
    url = env.get("ECS_CONTAINER_METADATA_URI_V4")
    if url:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                options = json.loads(response.read().decode("utf-8")).get("LogOptions") or {}
            for part in ("group", "region", "stream"):
                if options.get("awslogs-" + part):
                    out["aws-batch-awslogs-" + part] = options["awslogs-" + part]
        except Exception:  # noqa: BLE001 - as Metaflow: the log's place is a nicety
            pass
    return out


def _q(part):
    return urllib.request.quote(part, safe="")


def _json_or_text(raw):
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _say(message):
    sys.stderr.write("metaflow-cdk: %s\n" % message)
    sys.stderr.flush()
