"""metaflow-cdk task runtime: registers one task with the Metaflow metadata service, from inside its
Batch job, when no runner process is alive to do it (Step Functions).

The compiler names the service in the job's environment the way Metaflow's own @batch does
(METAFLOW_SERVICE_URL: the stack's internal URL when there is one, SERVICE_INTERNAL_URL in the
Metaflow config; METAFLOW_SERVICE_AUTH_KEY, sent as ``x-api-key``; METAFLOW_USER), with
MF_METADATA_REGISTER=1 saying that the job registers itself. The formats
are those of runner/metadata/ (registrar.ts, the runner's registrar): keep both in step.

- at the start of an attempt: the flow and the run (the execution's name is the run id; every
  task tries to create it and a 409 means another got there first, so racing tasks are safe),
  the ``start`` task also the ``_parameters`` task with ``_graph_info`` (from
  ``_mfcdk/graph-info.json`` in the code package) and the parameters, the step, the task
  (``t-<task id>``: the service refuses numeric ids), the attempt's metadata; then a task
  heartbeat every 10 s while the command runs (the service refreshes the run's heartbeat with
  it: metaflow-service services/metadata_service/api/task.py, tasks_heartbeat);
- at its end: the command's stdout and stderr as MFLOG files, the values of ``outputs.json`` as
  artifacts (Python's own pickle, gzip, content-addressed under ``<flow>/data/``, as Metaflow's
  ContentAddressedStore stores them) with ``_task_ok`` and ``_success``, then ``attempt-done``
  and ``attempt_ok``. The ``end`` task's ``attempt_ok`` is what marks the run done in the UI.

The service never fails a task: every call has a timeout, transient errors are retried with
backoff inside a bounded time per phase, and whatever went wrong is at most one warning line on
stderr. What the start of an attempt could not register is tried again at its end.

Python 3.8+ standard library only.
"""
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
            if status in TRANSIENT:
                last = "HTTP %d" % status
                continue
            if status >= 300 and status != 409 and status not in allow:
                raise Misconfigured("the metadata service refused %s %s (%d): %s" % (method, path, status, text[:200]))
            try:
                return status, json.loads(text) if text else None
            except ValueError:
                return status, text
        raise Unavailable("the metadata service at %s did not answer %s %s (%s)" % (self.url, method, path, last or "out of time"))


def _mflog(line, source=b"task"):
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f").encode()
    return b"".join((b"[MFLOG|0|", stamp, b"Z|", source, b"|", str(uuid.uuid4()).encode(), b"]", line.rstrip(b"\r\n").replace(b"\n", b" "), b"\n"))


class LogTee:
    """Copies a child's output stream to ours (CloudWatch) and, in MFLOG lines, to a file."""

    def __init__(self, pipe, out, path):
        self.path = path
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
            try:
                out.write(line)
                out.flush()
            except (OSError, ValueError):
                pass
            if log is not None:
                try:
                    log.write(_mflog(line))
                except OSError:
                    log = None
        if log is not None:
            log.close()
        pipe.close()

    def join(self):
        self.thread.join(timeout=30)


class Registration:
    """One attempt of one task in the service; every public method is safe: it never raises."""

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
        self.logs = {"stdout": os.path.join(work_dir, "task_stdout.log"), "stderr": os.path.join(work_dir, "task_stderr.log")}
        self.service = Service(env["METAFLOW_SERVICE_URL"], env.get("METAFLOW_SERVICE_AUTH_KEY"))
        self.system_tags = ["user:" + self.user, "runtime:metaflow-cdk", "metaflow_version:" + METAFLOW_FORMAT_VERSION]
        self.started = False
        self.stopped = None
        self.beating = threading.Event()
        self.problem = None

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

    # ---- the attempt's start ----------------------------------------------------------------

    def start(self):
        """Register the run, step, task and the attempt's start; then heartbeat while the command runs."""
        self._guard(START_SECONDS, self._start)
        if self.started:
            threading.Thread(target=self._heartbeats, daemon=True).start()

    def _start(self):
        s = self.service
        s.call("POST", "/flows/%s" % _q(self.flow), self._body())
        s.call("POST", "/flows/%s/run" % _q(self.flow), self._body(run_number=self.run_id))
        if self.step == "start":
            self._parameters_task()
        s.call("POST", "%s/steps/%s/step" % (self._run_path(), _q(self.step)), self._body(step_name=self.step))
        s.call("POST", "%s/steps/%s/task" % (self._run_path(), _q(self.step)), self._body(task_id=self.task_id))
        n = self.attempt
        items = [self._datum("attempt", str(n), n), self._datum("ds-type", "s3", n), self._datum("ds-root", self.store.url, n)]
        items.extend(self._datum(field, value, n) for field, value in sorted(batch_metadata(self.env).items()))
        s.call("POST", self._task_path(self.step, self.task_id) + "/metadata", items)
        self.started = True

    def _parameters_task(self):
        """The `_parameters` task: `_graph_info` (the UI draws the DAG from it) and the parameter values."""
        s = self.service
        s.call("POST", "%s/steps/%s/step" % (self._run_path(), PARAMETERS_STEP), self._body(step_name=PARAMETERS_STEP))
        status, _ = s.call("POST", "%s/steps/%s/task" % (self._run_path(), PARAMETERS_STEP), self._body(task_id=service_task_id("0")))
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
        path = self._task_path(PARAMETERS_STEP, service_task_id("0"))
        s.call("POST", path + "/metadata", [self._datum("attempt", "0", 0), self._datum("ds-type", "s3", 0), self._datum("ds-root", self.store.url, 0),
                                            self._datum("attempt-done", "0", 0), self._datum("attempt_ok", "True", 0, "internal_attempt_status")])
        s.call("POST", path + "/artifact", self._artifacts(PARAMETERS_STEP, service_task_id("0"), 0, values))

    def _heartbeats(self):
        path = self._task_path(self.step, self.task_id) + "/heartbeat"
        while not self.beating.wait(HEARTBEAT_SECONDS):
            try:
                self.service.call("POST", path, {}, tries=1, allow=(404,))
            except Exception:  # noqa: BLE001 - a missed heartbeat is not worth a line
                pass

    # ---- the command's output -----------------------------------------------------------------

    def tee(self, child):
        """Start copying a child's stdout and stderr (Popen with PIPEs) to ours and to MFLOG files."""
        try:
            return [LogTee(child.stdout, sys.stdout.buffer, self.logs["stdout"]), LogTee(child.stderr, sys.stderr.buffer, self.logs["stderr"])]
        except Exception as e:  # noqa: BLE001
            self._note(e)
            return []

    # ---- the attempt's end ------------------------------------------------------------------

    def finish(self, ok, output_dir):
        """Logs, artifacts (on success) and the attempt's end; the start again if it was missed."""
        self.beating.set()
        self._guard(END_SECONDS, lambda: self._finish(ok, output_dir))
        if self.problem:
            _say("warning: %s; %s/%s/%s/%s is not fully registered there (the task goes on)" % (self.problem, self.flow, self.run_id, self.step, self.task_id))

    def _finish(self, ok, output_dir):
        if not self.started:
            self._start()
        prefix = "%s/%s/%s/%s/%d." % (self.flow, self.run_id, self.step, self.task_id, self.attempt)
        for stream, path in self.logs.items():
            if os.path.exists(path) and os.path.getsize(path):
                with open(path, "rb") as f:
                    self.store.put(prefix + "task_%s.log" % stream, f.read())
        n = self.attempt
        values = {}
        if ok:
            outputs = os.path.join(output_dir, "outputs.json")
            if os.path.exists(outputs):
                with open(outputs, encoding="utf-8") as f:
                    loaded = json.load(f)
                if isinstance(loaded, dict):
                    values.update(loaded)
        # Metaflow's Task.successful / Run.successful read these (the end task's for a run).
        values["_task_ok"] = values["_success"] = ok
        path = self._task_path(self.step, self.task_id)
        self.service.call("POST", path + "/artifact", self._artifacts(self.step, self.task_id, n, values))
        self.service.call("POST", path + "/metadata", [self._datum("attempt-done", str(n), n), self._datum("attempt_ok", "True" if ok else "False", n, "internal_attempt_status")])

    def _artifacts(self, step, task_id, attempt, values):
        """Store each value as Metaflow does (sha1 of the pickle, gzip level 3, once) and describe it for the service."""
        out = []
        for name, value in values.items():
            blob = pickle.dumps(value, protocol=4)
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
