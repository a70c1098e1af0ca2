"""metaflow_cdk: what a step's Python code needs from the task contract, without path plumbing.

    from metaflow_cdk import inputs, parent, item, params, save, output_path, caught, ancestor

    data = parent()                 # the single parent's outputs.json (inputs() at a join)
    save(rows=len(data["x"]))       # merged into this attempt's outputs.json
    ancestor("start")["rows"]       # any step above this one, by name

It is on the task's PYTHONPATH on every compute layer (locally from the package's
task-runtime folder; on AWS Batch and Step Functions from the code package's ``_mfcdk/``), reads
only the task contract's environment (README "The task contract") and needs Python 3.8+'s
standard library alone.

Node steps have the same helpers in ../node/metaflow_cdk.js (``require('metaflow_cdk')``), which
reads and writes the same files, so Python and Node steps read each other's outputs.

Values in the environment are strings as they are and anything else as JSON; ``item()`` and
``params()`` decode them back: a value that reads as JSON (a number, list, object, true, false,
null) is returned decoded, any other text as the string it is.
"""
import atexit
import json
import os

__all__ = ["inputs", "parent", "input_paths", "input_dirs", "parent_dir", "item", "params", "save",
           "output_path", "caught", "ancestor"]

#: The file this module leaves in a task's outputs: the outputs of every step above the task
#: (``ancestor``). The runner's ``show`` does not list it among the task's files.
ANCESTORS_FILE = ".mfcdk-ancestors.json"


def _env(name):
    value = os.environ.get(name)
    if value is None:
        raise RuntimeError("%s is not set: metaflow_cdk works inside a task that metaflow-cdk runs" % name)
    return value


def _root():
    return _env("MF_DATASTORE_ROOT")


def _load(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def _decode(text):
    """A value from the environment: JSON when it reads as a non-string JSON value, else the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return text if isinstance(value, str) else value


def input_paths():
    """The parents' task paths (``<flow>/<run>/<step>/<task>``), from MF_INPUT_PATHS or, for a wide join, MF_INPUT_PATHS_FILE."""
    listing = os.environ.get("MF_INPUT_PATHS_FILE")
    if listing:
        with open(os.path.join(_root(), listing), encoding="utf-8") as f:
            return [line.strip() for line in f if line.strip()]
    return [p for p in os.environ.get("MF_INPUT_PATHS", "").split(",") if p]


def input_dirs():
    """The parents' folders: their outputs.json and the files they wrote."""
    return [os.path.join(_root(), p) for p in input_paths()]


def inputs():
    """Every parent's outputs.json, in input order (``{}`` for a parent that saved nothing)."""
    return [_load(os.path.join(d, "outputs.json"), {}) for d in input_dirs()]


def _single(what):
    paths = input_paths()
    if len(paths) != 1:
        raise RuntimeError("%s: this task has %d inputs (%s); use inputs() or input_dirs()" % (what, len(paths), ", ".join(paths) or "none"))
    return os.path.join(_root(), paths[0])


def parent_dir():
    """The single parent's folder (its files); an error at a join or in the start step."""
    return _single("parent_dir()")


def parent():
    """The single parent's outputs.json; an error at a join (use inputs()) or in the start step."""
    return _load(os.path.join(_single("parent()"), "outputs.json"), {})


def item():
    """This foreach task's item, from MF_FOREACH_ITEM or, when long, MF_FOREACH_ITEM_FILE."""
    item_file = os.environ.get("MF_FOREACH_ITEM_FILE")
    if item_file:
        return _load(os.path.join(_root(), item_file))
    if "MF_FOREACH_ITEM" not in os.environ:
        raise RuntimeError("item(): this task is not in a foreach (no MF_FOREACH_ITEM)")
    text = os.environ["MF_FOREACH_ITEM"]
    return text if os.environ.get("MF_FOREACH_ITEM_TEXT") == "1" else _decode(text)


def params():
    """The flow's parameters by name (lower case, as MF_PARAM_<NAME> carries them upper case)."""
    prefix = "MF_PARAM_"
    # String parameters stay text ("007" is not 7): MF_TEXT_PARAMS names them.
    text = {n.lower() for n in os.environ.get("MF_TEXT_PARAMS", "").split(",") if n}
    out = {}
    for k, v in os.environ.items():
        if k.startswith(prefix):
            name = k[len(prefix):].lower()
            out[name] = v if name in text else _decode(v)
    return out


def output_path(name):
    """Where this attempt writes a file of its outputs (its folder is made)."""
    path = os.path.join(_env("MF_OUTPUT_DIR"), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def save(**values):
    """Merge values into this attempt's outputs.json (read by the steps after it). Returns them all."""
    for name, value in values.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise TypeError("save(%s=...): not JSON-serializable (%s); write it as a file at output_path(%r)" % (name, e, name)) from None
    path = output_path("outputs.json")
    merged = _load(path, {})
    merged.update(values)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(merged, f)
    os.replace(tmp, path)
    return merged


def caught(var=None):
    """The failures caught earlier (MF_CAUGHT, or MF_CAUGHT_FILE when long): ``{var: failure or None}``, or one var's."""
    caught_file = os.environ.get("MF_CAUGHT_FILE")
    if caught_file:
        values = _load(os.path.join(_root(), caught_file), {})
    else:
        values = json.loads(os.environ.get("MF_CAUGHT", "{}"))
    return values if var is None else values.get(var)


def _step_of(task_path):
    return task_path.split("/")[-2]


def _lineage():
    """Every step above this task → its outputs (None: several tasks of that step are above it)."""
    merged = {}

    def add(step, values):
        if step in merged and merged[step] != values:
            merged[step] = None
        elif step not in merged:
            merged[step] = values

    for path, folder in zip(input_paths(), input_dirs()):
        for step, values in _load(os.path.join(folder, ANCESTORS_FILE), {}).items():
            add(step, values)
        add(_step_of(path), _load(os.path.join(folder, "outputs.json"), {}))
    return merged


def ancestor(step):
    """The outputs of the step named ``step`` above this one (Metaflow's artifacts flowing down the graph).

    Found through the parents' outputs: each task that imports this module (or the Node one)
    leaves its ancestors' outputs beside its own (ANCESTORS_FILE), so a step above one that uses
    neither is not found past it.
    """
    lineage = _lineage()
    if step not in lineage:
        raise KeyError("ancestor(%r): no such step above this one (steps above it: %s)" % (step, ", ".join(sorted(lineage)) or "none"))
    if lineage[step] is None:
        raise KeyError("ancestor(%r): several tasks of that step are above this one (a foreach or a branch); read them with inputs()" % step)
    return lineage[step]


@atexit.register
def _leave_lineage():
    """At exit, pass the ancestors' outputs on to the steps below (nothing outside a task)."""
    out = os.environ.get("MF_OUTPUT_DIR")
    if not out or not os.path.isdir(out) or "MF_DATASTORE_ROOT" not in os.environ:
        return
    try:
        lineage = _lineage()
    except (OSError, ValueError):
        return  # an unreadable input was the step's own problem to report
    if lineage:
        with open(os.path.join(out, ANCESTORS_FILE), "w", encoding="utf-8") as f:
            json.dump(lineage, f)
