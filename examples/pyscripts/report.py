"""end: what the train step learned, on how many rows the start step made."""
import os

from metaflow_cdk import ancestor, parent

model = parent()
rows = ancestor("start")["rows"]
print(f"run {os.environ['MF_RUN_ID']}: y = {model['slope']}x + {model['intercept']} (mse {model['mse']} on {rows} rows)")
