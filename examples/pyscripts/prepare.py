"""start: a synthetic data set, y = 3x + 2 plus a little noise, as data.csv in the task's outputs."""
import csv
import random

from metaflow_cdk import output_path, params, save

rows = params()["rows"]
rng = random.Random(42)
with open(output_path("data.csv"), "w", newline="") as f:
    out = csv.writer(f)
    out.writerow(["x", "y"])
    for _ in range(rows):
        x = rng.uniform(0, 10)
        out.writerow([f"{x:.6f}", f"{3 * x + 2 + rng.gauss(0, 0.5):.6f}"])
save(rows=rows)
print(f"prepared {rows} rows")
