"""Read runs back with the real Metaflow client and print what a user would see, as JSON.

    read-run.py FLOW RUN_ID [FLOW RUN_ID ...]   (METAFLOW_SERVICE_URL, METAFLOW_USER set; PYTHONPATH
                                                 holds metaflow; for an S3 datastore
                                                 METAFLOW_DEFAULT_DATASTORE=s3 and its settings)

Prints a JSON list, one entry per run, in the order given: the run ids listed in the user's
namespace, the run's successful/finished flags, and per step each task's id, successful flag,
metadata (field → latest value), artifacts (values of the non-private ones), stdout and exception; for a
task with more than one attempt also its attempt metadata over all attempts and each attempt read
alone. One process reads every run of a test file (the client's import costs more than a run's
reads).
"""
import json
import sys

from metaflow import Flow, Run, Task, namespace, get_namespace

ATTEMPT_FIELDS = ("attempt", "attempt-done", "attempt_ok", "caught")
default_namespace = get_namespace()


def exception_of(task):
    """A failed task's Task.exception (Metaflow's MetaflowExceptionWrapper), as printed and its parts."""
    e = task.exception
    return None if e is None else {"type": e.type, "exception": e.exception, "printed": str(e)}


def read(flow_name, run_id):
    namespace(default_namespace)
    out = {"namespace": get_namespace(), "listed": [r.id for r in Flow(flow_name)]}
    namespace(None)
    run = Run("%s/%s" % (flow_name, run_id))
    out["successful"] = run.successful
    out["finished"] = run.finished
    out["tags"] = sorted(run.tags)
    out["system_tags"] = sorted(run.system_tags)
    steps = {}
    for step in run:
        tasks = []
        for task in step:
            tasks.append(
                {
                    "id": task.id,
                    "successful": task.successful,
                    "finished": task.finished,
                    "data": {a.id: a.data for a in task if not a.id.startswith("_") and a.id != "name"},
                    "stdout": task.stdout,
                    "attempts": task.current_attempt,
                    "metadata": task.metadata_dict,
                    "exception": exception_of(task),
                }
            )
            if task.current_attempt:
                # Every attempt as the client shows it: task.metadata (all attempts), and each attempt's own Task
                tasks[-1]["attempt_metadata"] = sorted([m.name, m.value] for m in task.metadata if m.name in ATTEMPT_FIELDS)
                tasks[-1]["tries"] = []
                for n in range(task.current_attempt + 1):
                    one = Task(task.pathspec, attempt=n)
                    tasks[-1]["tries"].append({"attempt": n, "finished": one.finished, "stdout": one.stdout, "stderr": one.stderr, "exception": exception_of(one),
                                               "metadata": {k: v for k, v in one.metadata_dict.items() if k in ATTEMPT_FIELDS}})
        steps[step.id] = sorted(tasks, key=lambda t: t["id"])
    out["steps"] = steps
    params = Task("%s/%s/_parameters/t-0" % (flow_name, run_id))
    # `name` is the flow's name in every task (as Metaflow registers it), unless a parameter is called so.
    out["parameters"] = {a.id: a.data for a in params if not a.id.startswith("_") and not (a.id == "name" and a.data == flow_name)}
    out["graph_steps"] = sorted(params["_graph_info"].data["steps"])
    return out


args = sys.argv[1:]
if not args or len(args) % 2:
    sys.exit("usage: read-run.py FLOW RUN_ID [FLOW RUN_ID ...]")
print(json.dumps([read(args[i], args[i + 1]) for i in range(0, len(args), 2)], default=str))
