"""metaflow-cdk task runtime: runs one task (or one array child) inside an AWS Batch container.

Stage 0 (stage0.py, in the job definition's command) downloaded the flow's code package from S3,
unpacked it into the working directory and calls ``main(argv, rq)`` with ``rq``, its signed S3
request function. This module then does what the task contract (README, "The task contract")
promises on every compute layer:

1. works out which task it is: for an array child, index = MF_ARRAY_INDEX_OFFSET +
   AWS_BATCH_JOB_ARRAY_INDEX and task id = MF_TASK_ID_PREFIX + index; ``{taskId}`` and
   ``{index}`` in the environment's keys and paths become those values;
2. mirrors exactly the datastore keys the task needs (its inputs' committed outputs, the foreach
   items, input-path lists, caught failures) from S3 to a local directory, waiting first for keys
   another job commits (an input's status.json), and makes that directory MF_DATASTORE_ROOT;
3. runs the step's command (the argv) in the code package's directory, with MF_OUTPUT_DIR in the
   mirror; its output streams are the container's (CloudWatch Logs), signals are passed on;
4. uploads what the attempt wrote to its output key, and - when no runner commits (Step
   Functions) - commits it to the task path and writes the task's status.json with every
   attempt; on Step Functions it also carries out the step's policies the state machine cannot
   (runner/sfn/compiler/in-task.ts): per-child retries and catch in a foreach body, per-attempt
   timeouts, and the catch vars read from the catch steps' records (see ``main``);
5. exits with the command's exit code (0 for a caught task), or with one of the runtime's own
   codes (EXIT below) and one line on stderr saying what failed.

Python 3.8+ standard library only: an image needs /bin/sh and python3, nothing else.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import xml.etree.ElementTree as ET

try:
    import mfcdk_metadata
except Exception:  # noqa: BLE001 - registration is optional: a task never fails for it
    mfcdk_metadata = None

# The runtime's own exit codes (runner/batch/failures.ts reads them; keep both in step).
EXIT = {"no_python": 90, "upload_failed": 91, "fetch_failed": 92, "code_failed": 93, "items_unusable": 94}

IO_ENV = (
    "MF_DATASTORE_URL", "MF_FETCH_KEYS", "MF_FETCH_CHILDREN", "MF_FETCH_LISTS", "MF_WAIT_KEYS",
    "MF_WAIT_SECONDS", "MF_OUTPUT_KEY", "MF_COMMIT_KEY", "MF_COMMIT_INPUTS", "MF_COMMIT_INPUTS_FILE",
    "MF_FOREACH_ITEMS_JSON", "MF_CODE_URL", "MF_WORK_DIR", "MF_S3_REGION", "MF_ARRAY_INDEX_OFFSET",
    "MF_TASK_ID_PREFIX", "MF_FOREACH_ITEMS_FILE", "MF_JOIN_INPUT_PREFIX", "MF_JOIN_INPUT_COUNT", "MF_METADATA_REGISTER",
    "MF_ATTEMPTS", "MF_RETRY_DELAY_SECONDS", "MF_CATCH_IN_TASK", "MF_ATTEMPT_TIMEOUT_SECONDS", "MF_STOP_GRACE_SECONDS",
    "MF_MAX_ATTEMPTS", "MF_CAUGHT_READ", "MF_FOREACH_CHECK", "MF_CATCH_VAR",
)
MAX_INLINE_CHARS = 4096
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class Failure(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def failed_line(task, reason, attempts=1):
    """A failed task's one line, as the runner words it (contract/caught.ts failedMessage): ``step s/t failed: reason``."""
    return "step %s/%s failed: %s%s" % (task.env.get("MF_STEP", ""), task.task_id, reason, " (after %d attempts)" % attempts if attempts > 1 else "")


def retried_line(task, attempt, reason):
    """One failed attempt that is retried, as the runner words it (contract/caught.ts retriedAttemptMessage)."""
    return "attempt %d of step %s/%s failed: %s" % (attempt, task.env.get("MF_STEP", ""), task.task_id, reason)


def say(message):
    sys.stderr.write("metaflow-cdk: %s\n" % message)
    sys.stderr.flush()


class Store:
    """The S3 datastore root (s3://bucket[/prefix]) through stage 0's signed requests."""

    def __init__(self, url, rq):
        rest = url[len("s3://"):]
        self.url = url.rstrip("/")
        self.bucket, _, prefix = rest.partition("/")
        self.base = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.rq = rq

    def _call(self, method, key="", query=None, body=None, tries=6):
        for attempt in range(tries):
            try:
                with self.rq(method, self.bucket, key, query or {}, body) as response:
                    return response.read()
            except urllib.error.HTTPError as e:
                if e.code < 500 and e.code != 429:
                    raise
                error = e
            except (urllib.error.URLError, OSError) as e:
                error = e
            if attempt < tries - 1:
                time.sleep(min(2 ** attempt, 10))
        raise error

    def exists(self, key):
        try:
            self._call("HEAD", self.base + key)
            return True
        except urllib.error.HTTPError as e:
            if e.code in (403, 404):
                return False
            raise

    def get(self, key):
        return self._call("GET", self.base + key)

    def put(self, key, body):
        self._call("PUT", self.base + key, body=body)

    def list(self, prefix):
        """Keys under prefix (relative to the root), every page."""
        keys, token = [], None
        while True:
            query = {"list-type": "2", "prefix": self.base + prefix}
            if token:
                query["continuation-token"] = token
            root = ET.fromstring(self._call("GET", "", query))
            for item in root.iter(S3_NS + "Key"):
                keys.append(item.text[len(self.base):])
            token_el = root.find(S3_NS + "NextContinuationToken")
            if token_el is None or not token_el.text:
                return keys
            token = token_el.text


class Task:
    def __init__(self, env, rq):
        self.env = env
        self.work = env.get("MF_WORK_DIR", "/tmp/mfcdk")
        self.root = self.work + "/root"
        self.code_dir = os.getcwd()
        url = env.get("MF_DATASTORE_URL", "")
        if not url.startswith("s3://"):
            raise Failure(EXIT["fetch_failed"], "MF_DATASTORE_URL must be s3://bucket[/prefix], got %r" % url)
        self.store = Store(url, rq)
        array_index = env.get("AWS_BATCH_JOB_ARRAY_INDEX")
        self.index = int(env.get("MF_ARRAY_INDEX_OFFSET", "0") or 0) + int(array_index or 0)
        self.child = "MF_TASK_ID_PREFIX" in env
        self.stopped = False
        self.caught_by_machine = []
        self.task_id = env.get("MF_TASK_ID_PREFIX", "") + str(self.index) if self.child else env.get("MF_TASK_ID", "0")

    def sub(self, text):
        return text.replace("{taskId}", self.task_id).replace("{index}", str(self.index))

    def words(self, name):
        return [self.sub(w) for w in self.env.get(name, "").split()]

    def local(self, key):
        return os.path.join(self.root, key)

    # ---- inputs -----------------------------------------------------------------------------

    def wait_for(self, key, limit):
        waited, delay = 0, 1
        while not self.store.exists(key):
            if waited >= limit:
                raise Failure(EXIT["fetch_failed"], "%s/%s does not exist after waiting %ds for it" % (self.store.url, key, waited))
            time.sleep(delay)
            if self.stopped:
                raise Failure(EXIT["fetch_failed"], "stopped while waiting for %s/%s" % (self.store.url, key))
            waited += delay
            delay = min(delay * 2, 30)

    def fetch_file(self, key):
        path = self.local(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        try:
            data = self.store.get(key)
        except urllib.error.HTTPError as e:
            raise Failure(EXIT["fetch_failed"], "could not fetch %s/%s (HTTP %d: missing from the datastore, or the job role cannot read it)" % (self.store.url, key, e.code))
        with open(path, "wb") as out:
            out.write(data)

    def fetch_prefix(self, prefix, skip):
        keys = [k for k in self.store.list(prefix) if not skip(k[len(prefix):].split("/"))]
        if not keys:
            raise Failure(EXIT["fetch_failed"], "nothing to fetch at %s/%s (an input of this task is missing from the datastore)" % (self.store.url, prefix))
        for key in keys:
            self.fetch_file(key)

    def fetch_key(self, key):
        if key.endswith("/"):
            # a task path's committed outputs, without its attempts' copies
            self.fetch_prefix(key, lambda parts: parts[0].startswith("attempt-"))
        else:
            self.fetch_file(key)

    def fetch_inputs(self):
        limit = int(self.env.get("MF_WAIT_SECONDS", "3600") or 3600)
        for key in self.words("MF_WAIT_KEYS"):
            self.wait_for(key, limit)
        for key in self.words("MF_FETCH_KEYS"):
            self.fetch_key(key)
        for prefix in self.words("MF_FETCH_CHILDREN"):
            # every child of a step in one listing, without each child's attempt-* copies
            self.fetch_prefix(prefix, lambda parts: len(parts) > 1 and parts[1].startswith("attempt-"))
        for key in self.words("MF_FETCH_LISTS"):
            self.fetch_file(key)
            for path in self.read_lines(key):
                self.wait_for(path + "/status.json", limit)
                self.fetch_key(path + "/")
        items_json = self.env.get("MF_FOREACH_ITEMS_JSON")
        if items_json:
            self.items_file_from_json(self.sub(items_json))

    def read_lines(self, key):
        with open(self.local(key), encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]

    def items_file_from_json(self, key):
        items_file = self.sub(self.env.get("MF_FOREACH_ITEMS_FILE", ""))
        if not items_file:
            raise Failure(EXIT["fetch_failed"], "MF_FOREACH_ITEMS_JSON needs MF_FOREACH_ITEMS_FILE")
        try:
            items = json.loads(self.store.get(key).decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise Failure(EXIT["fetch_failed"], "could not fetch the foreach items %s/%s (HTTP %d)" % (self.store.url, key, e.code))
        if not isinstance(items, list):
            raise Failure(EXIT["fetch_failed"], "%s/%s is not a JSON array" % (self.store.url, key))
        path = self.local(items_file)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write("".join(json.dumps(x, separators=(",", ":"), ensure_ascii=False) + "\n" for x in items))

    # ---- the command --------------------------------------------------------------------------

    def task_environment(self, output_dir):
        env = {k: v for k, v in self.env.items() if k not in IO_ENV}
        env["MF_DATASTORE_ROOT"] = self.root
        env["MF_OUTPUT_DIR"] = output_dir
        env["MF_TASK_ID"] = self.task_id
        # the task helpers (metaflow_cdk.py, metaflow_cdk.js) arrive in the code package's _mfcdk/: importable by the step
        helpers = os.path.join(self.code_dir, "_mfcdk")
        for name in ("PYTHONPATH", "NODE_PATH"):
            env[name] = env[name] + os.pathsep + helpers if env.get(name) else helpers
        for name in ("MF_INPUT_PATHS", "MF_INPUT_PATHS_FILE"):
            if name in env:
                env[name] = self.sub(env[name])
        if self.child:
            env["MF_FOREACH_INDEX"] = str(self.index)
            self.foreach_item(env)
        join_prefix = self.env.get("MF_JOIN_INPUT_PREFIX")
        if join_prefix is not None and env.get("MF_INPUT_PATHS_FILE"):
            # a foreach join on Step Functions: the children are numbered, the list is derived
            count = int(self.env.get("MF_JOIN_INPUT_COUNT", "0") or 0)
            path = self.local(env["MF_INPUT_PATHS_FILE"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as out:
                out.write("".join("%s%d\n" % (join_prefix, i) for i in range(count)))
        return env

    def foreach_item(self, env):
        items_file = self.sub(self.env.get("MF_FOREACH_ITEMS_FILE", ""))
        if not items_file:
            return
        with open(self.local(items_file), encoding="utf-8") as f:
            for i, line in enumerate(f):
                if i == self.index:
                    break
            else:
                raise Failure(EXIT["fetch_failed"], "the foreach items file %s has no line %d" % (items_file, self.index))
        line = line.rstrip("\n")
        value = json.loads(line)
        text = value if isinstance(value, str) else line
        if isinstance(value, str):
            env["MF_FOREACH_ITEM_TEXT"] = "1"
        if len(text) <= MAX_INLINE_CHARS:
            env["MF_FOREACH_ITEM"] = text
        else:
            key = "%s/foreach-item-%d.json" % (os.path.dirname(items_file), self.index)
            with open(self.local(key), "w", encoding="utf-8") as out:
                out.write(line)
            env["MF_FOREACH_ITEM_FILE"] = key

    def run(self, argv, env, timeout=None, registration=None):
        """The command's exit code, and whether it ran past ``timeout`` seconds (then it was stopped)."""
        if not argv:
            raise Failure(EXIT["fetch_failed"], "no command to run")
        # A stop (TerminateJob, a timeout: SIGTERM, then SIGKILL) goes to the command's process
        # group. The handlers come first: a signal before the command exists is passed on at its start.
        started, pending = [], []

        def forward(signum, _frame):
            self.stopped = True
            if not started:
                pending.append(signum)
                return
            try:
                os.killpg(started[0].pid, signum)
            except ProcessLookupError:
                pass

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, forward)
        try:
            # with a metadata service, the output is also kept as Metaflow's logs (mfcdk_metadata.LogTee)
            pipe = subprocess.PIPE if registration else None
            child = subprocess.Popen(argv, cwd=self.code_dir, env=env, start_new_session=True, stdout=pipe, stderr=pipe)
        except FileNotFoundError:
            say("%s: command not found in this image (PATH=%s)" % (argv[0], env.get("PATH", "")))
            return 127, False
        except PermissionError:
            say("%s: permission denied (is it executable?)" % argv[0])
            return 126, False
        started.append(child)
        tees = registration.tee(child) if registration else []
        for signum in pending:
            forward(signum, None)
        timed_out = False
        try:
            code = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # the step's own timeout, per attempt (as Batch's attemptDurationSeconds would): SIGTERM, then SIGKILL
            timed_out = True
            say("the attempt ran longer than its timeout of %ds: stopping it" % timeout)
            grace = float(self.env.get("MF_STOP_GRACE_SECONDS", "30") or 30)
            for signum, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
                try:
                    os.killpg(child.pid, signum)
                except ProcessLookupError:
                    pass
                try:
                    code = child.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        for tee in tees:
            tee.join()
        return (128 - code if code < 0 else code), timed_out

    # ---- outputs ------------------------------------------------------------------------------

    def upload_dir(self, directory, key_prefix):
        for folder, _dirs, files in os.walk(directory):
            for name in sorted(files):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, directory).replace(os.sep, "/")
                with open(path, "rb") as f:
                    self.store.put("%s/%s" % (key_prefix, rel), f.read())

    def has_files(self, directory):
        return any(files for _folder, _dirs, files in os.walk(directory))

    def upload(self, output_dir, output_key, code):
        """The attempt's outputs to its key; the exit code, or the runtime's when the upload failed."""
        try:
            if self.has_files(output_dir):
                self.upload_dir(output_dir, output_key)
        except (urllib.error.URLError, OSError) as e:
            say("uploading the outputs to %s/%s/ failed: %s" % (self.store.url, output_key, e))
            return code if code != 0 else EXIT["upload_failed"]
        return code

    def commit_key(self):
        return self.sub(self.env["MF_COMMIT_KEY"]) if self.env.get("MF_COMMIT_KEY") else None

    def earlier_attempts(self, first):
        """Attempts an earlier job of this task recorded (a Step Functions retry is a new job): kept in status.json."""
        key = self.commit_key()
        if key is None or first == 0:
            return []
        try:
            status = json.loads(self.store.get(key + "/status.json").decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError):
            return []
        return [a for a in status.get("attempts", []) if isinstance(a, dict) and isinstance(a.get("attempt"), int) and a["attempt"] < first]

    def commit(self, output_dir, attempts, caught=None):
        """The task's record (and on success its outputs) at the task path, status.json last."""
        commit_key = self.commit_key()
        ok = attempts[-1]["status"] == "succeeded"
        if ok and self.has_files(output_dir):
            self.upload_dir(output_dir, commit_key)
        inputs = [p for p in self.sub(self.env.get("MF_COMMIT_INPUTS", "")).split(",") if p]
        inputs_file = self.env.get("MF_COMMIT_INPUTS_FILE")
        if inputs_file:
            inputs = ["/".join(p.split("/")[-2:]) for p in self.read_lines(self.sub(inputs_file))]
        status = {"step": commit_key.split("/")[-2], "taskId": commit_key.split("/")[-1],
                  "status": "caught" if caught else "succeeded" if ok else "failed", "inputs": inputs}
        if self.child:
            status["foreachIndex"] = self.index
        status["attempts"] = attempts
        if caught:
            status["caught"] = caught
        self.store.put(commit_key + "/status.json", json.dumps(status, separators=(",", ":")).encode("utf-8"))

    # ---- caught failures of foreach bodies ----------------------------------------------------

    def caught_values(self, env):
        """MF_CAUGHT_READ: catch vars set inside a foreach body, read from their tasks' status.json.

        Each entry is ``{"var", "step", "mode", "depth"}``: mode ``task`` reads the one task of the
        catch step whose id is the first ``depth`` parts of this task's id (the same foreach
        child), giving its failure or null; mode ``all`` reads every task of the catch step whose
        id starts with this task's first ``depth`` parts (the children a join gathered), giving
        the list of their failures in index order (successes left out), as the runner's joins do.
        """
        entries = json.loads(self.env.get("MF_CAUGHT_READ") or "[]")
        if not entries:
            return
        base = "%s/%s" % (self.env.get("MF_FLOW", ""), self.env.get("MF_RUN_ID", ""))
        parts = self.task_id.split("_")
        values = json.loads(self.env.get("MF_CAUGHT") or "{}")

        def record(key):
            try:
                return json.loads(self.store.get(key).decode("utf-8"))
            except urllib.error.HTTPError as e:
                raise Failure(EXIT["fetch_failed"], "could not read %s/%s (HTTP %d), the record of a caught step" % (self.store.url, key, e.code))

        for e in entries:
            prefix = "_".join(parts[: e["depth"]])
            if e["mode"] == "task":
                prefix = prefix or "0"  # a catch step outside any foreach is task 0
                status = record("%s/%s/%s/status.json" % (base, e["step"], prefix))
                values[e["var"]] = status.get("caught") if status.get("status") == "caught" else None
                # Caught by the state machine (its record, whose attempts have no times: the job failed
                # without its runtime), so registered by nobody: this task registers it (in-task.ts CaughtRead.register).
                if e.get("register") and status.get("status") == "caught" and not any("startedAt" in a for a in status.get("attempts", []) if isinstance(a, dict)):
                    self.caught_by_machine.append((e["step"], prefix, e["var"], status.get("caught")))
                continue
            step_prefix = "%s/%s/" % (base, e["step"])
            want = prefix + "_" if prefix else ""
            found = []
            for key in self.store.list(step_prefix + want):
                rest = key[len(step_prefix):].split("/")
                if len(rest) == 2 and rest[1] == "status.json":
                    found.append(rest[0])
            found.sort(key=lambda t: [int(x) if x.isdigit() else x for x in t.split("_")])
            failures = []
            for tid in found:
                status = record("%s%s/status.json" % (step_prefix, tid))
                if status.get("status") == "caught":
                    failures.append(status.get("caught"))
            values[e["var"]] = failures
        text = json.dumps(values, separators=(",", ":"))
        for v in values:
            env.pop("MF_CATCH_" + v, None)
        if len(text) > MAX_INLINE_CHARS:
            key = "%s/%s/%s/caught.json" % (base, self.env.get("MF_STEP", ""), self.task_id)
            path = self.local(key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            env.pop("MF_CAUGHT", None)
            env["MF_CAUGHT_FILE"] = key
            return
        env["MF_CAUGHT"] = text
        for v, value in values.items():
            env["MF_CATCH_" + v] = json.dumps(value, separators=(",", ":"))


def unusable_items(env, output_dir):
    """MF_FOREACH_CHECK (a foreach split on Step Functions): why its items cannot fan out, as the
    runner says it (runner/orchestrator foreachItems), or None when they are a non-empty list."""
    check = json.loads(env.get("MF_FOREACH_CHECK") or "null")
    if not check:
        return None
    if "output" in check:
        name = check["output"]
        path = os.path.join(output_dir, "outputs.json")
        outputs = None
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as f:
                    outputs = json.load(f)
            except ValueError as e:
                return 'foreach needs a list under "%s" in outputs.json: %s' % (name, e)
        items = outputs.get(name) if isinstance(outputs, dict) else None
        if not isinstance(items, list):
            got = json.dumps(items) if outputs is not None and name in outputs else "nothing" if outputs is not None else "no outputs.json"
            return 'foreach needs a list under "%s" in outputs.json, got %s' % (name, got)
        what = '"%s" in outputs.json' % name
    else:
        try:
            items = json.loads(env.get(check["env"], ""))
        except ValueError:
            return None  # a string parameter: the state machine checks it
        what = 'parameter "%s"' % check["param"]
        if not isinstance(items, list):
            return "foreach needs a list in %s, got %s" % (what, json.dumps(items))
    if not items:
        return "foreach has no items to fan out over (%s is empty)" % what
    return None


def attempt_key(output_key, n):
    return re.sub(r"attempt-\d+$", "attempt-%d" % n, output_key)


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def registration_of(task):
    """The task's registration with the metadata service, when its environment names one (mfcdk_metadata.py)."""
    if mfcdk_metadata is None:
        return None
    try:
        os.makedirs(task.work, exist_ok=True)
        reg = mfcdk_metadata.Registration.from_env(task.env, task.store, task.task_id, task.code_dir, task.work)
        if reg:
            reg.start()
        return reg
    except Exception as e:  # noqa: BLE001
        say("warning: metadata service registration: %r (the task goes on)" % (e,))
        return None


def main(argv, rq):
    """Fetch, then the attempts this job makes (one, or inside a foreach body on Step Functions
    the step's retries in the container: MF_ATTEMPTS, MF_RETRY_DELAY_SECONDS apart; each timed by
    MF_ATTEMPT_TIMEOUT_SECONDS), then the commit: status.json lists every attempt, those of
    earlier jobs of the task included (a Step Functions retry is a new job); with
    MF_CATCH_IN_TASK a task whose last allowed attempt (MF_MAX_ATTEMPTS in all) failed is
    recorded ``caught`` and the job exits 0."""
    registration = None
    try:
        task = Task(dict(os.environ), rq)
        output_key = task.sub(task.env.get("MF_OUTPUT_KEY", ""))
        if not output_key:
            raise Failure(EXIT["fetch_failed"], "MF_OUTPUT_KEY is not set")
        registration = registration_of(task)
        task.fetch_inputs()
        caught_env = {}
        task.caught_values(caught_env)
        if registration and task.caught_by_machine:
            registration.register_caught(task.caught_by_machine)
    except Failure as f:
        say(str(f))
        if registration:
            registration.finish(False, None, failure=failed_line(task, str(f)))
        return f.code
    except (urllib.error.URLError, OSError) as e:
        say("could not fetch the task's inputs: %s" % e)
        if registration:
            registration.finish(False, None, failure=failed_line(task, "could not fetch the task's inputs: %s" % e))
        return EXIT["fetch_failed"]
    match = re.search(r"attempt-(\d+)$", output_key)
    first = int(match.group(1)) if match else 0
    tries = max(1, int(task.env.get("MF_ATTEMPTS", "1") or 1))
    delay = float(task.env.get("MF_RETRY_DELAY_SECONDS", "0") or 0)
    timeout = int(task.env.get("MF_ATTEMPT_TIMEOUT_SECONDS", "0") or 0) or None
    commit = task.commit_key() is not None
    try:
        attempts = task.earlier_attempts(first) if commit else []
    except Failure as f:
        say(str(f))
        return f.code
    for i in range(tries):
        n = first + i
        if i > 0:
            say("attempt %d of %s/%s failed: retrying in %gs (attempt %d)" % (n - 1, task.env.get("MF_STEP", ""), task.task_id, delay, n))
            time.sleep(delay)
            if task.stopped:
                break  # stopped (TerminateJob) while waiting: no further attempt
            if registration:
                # the failed attempt's end and artifacts and this one's start, each its own in the service
                registration.retry(n, retried_line(task, n - 1, attempts[-1].get("reason") or "exit code %d" % code))
        key = attempt_key(output_key, n)
        output_dir = task.local(key)
        try:
            os.makedirs(output_dir, exist_ok=True)
            env = task.task_environment(output_dir)
        except Failure as f:
            say(str(f))
            return f.code
        env.update(caught_env)
        if tries > 1:
            env["MF_RETRY_COUNT"] = str(n)  # this container's own attempts (else the variable as given)
        started = now()
        code, timed_out = task.run(argv, env, timeout, registration)
        code = task.upload(output_dir, key, code)
        unusable = unusable_items(task.env, output_dir) if code == 0 else None
        record = {"attempt": n, "status": "succeeded" if code == 0 and not unusable else "timeout" if timed_out else "failed", "exitCode": code,
                  "startedAt": started, "finishedAt": now()}
        if unusable:
            say(unusable)
            record["reason"] = unusable
            code = EXIT["items_unusable"]
        elif code != 0:
            record["reason"] = "timed out after %ds" % timeout if timed_out else "exit code %d" % code
        if task.env.get("AWS_BATCH_JOB_ID"):
            record["externalId"] = task.env["AWS_BATCH_JOB_ID"]
        attempts.append(record)
        if code == 0 or task.stopped:
            break
    caught = None
    allowed = int(task.env.get("MF_MAX_ATTEMPTS", "1") or 1)
    if commit and code != 0 and task.env.get("MF_CATCH_IN_TASK") == "1" and not task.stopped and len(attempts) >= allowed:
        last = attempts[-1]
        caught = {"step": task.env.get("MF_STEP", ""), "taskId": task.task_id,
                  "message": failed_line(task, last["reason"], len(attempts)),
                  "exitCode": None if last["status"] == "timeout" else last["exitCode"], "statusReason": last["status"], "attempts": len(attempts)}
    if registration:
        # a caught failure as the runner's registrar has it: `caught` metadata, the failure as the catch var's artifact
        last = attempts[-1] if attempts else None
        failure = None
        if code != 0 and not caught and not task.stopped:
            reason = (last or {}).get("reason") or "exit code %d" % code
            n = (last or {}).get("attempt", first)
            # A top-level step's failed attempt that the state machine retries (a new job): worded as the
            # runner's registrar words a retried attempt; the task's last failure as its failure.
            failure = retried_line(task, n, reason) if tries == 1 and n + 1 < allowed else failed_line(task, reason, len(attempts))
        registration.finish(code == 0, output_dir, {"var": task.env.get("MF_CATCH_VAR") or None, "failure": caught} if caught else None, failure=failure)
    if not commit:
        return code
    try:
        task.commit(output_dir, attempts, caught)
    except (urllib.error.URLError, OSError) as e:
        say("committing %s failed: %s" % (task.commit_key(), e))
        return code if code != 0 else EXIT["upload_failed"]
    return 0 if caught else code
