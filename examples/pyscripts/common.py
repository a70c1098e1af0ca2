"""Helpers shared by the steps: they ship in the code package with the scripts that import them.

Only the task contract's environment variables (README "The task contract") and the standard
library are used.
"""
import json
import os


def input_dir():
    """The folder of this task's (single) input in the datastore."""
    return os.path.join(os.environ["MF_DATASTORE_ROOT"], os.environ["MF_INPUT_PATHS"].split(",")[0])


def read_input_outputs():
    """The input task's outputs.json."""
    with open(os.path.join(input_dir(), "outputs.json")) as f:
        return json.load(f)


def output_path(name):
    """Where this attempt writes a file of its outputs."""
    return os.path.join(os.environ["MF_OUTPUT_DIR"], name)


def write_outputs(values):
    """This task's small JSON outputs, read by the steps after it."""
    with open(output_path("outputs.json"), "w") as f:
        json.dump(values, f)
