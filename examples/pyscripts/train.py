"""train: least-squares fit of a line to the data set of the start step."""
import csv
import os

from metaflow_cdk import parent_dir, save

with open(os.path.join(parent_dir(), "data.csv"), newline="") as f:
    points = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(f)]
n = len(points)
mean_x = sum(x for x, _ in points) / n
mean_y = sum(y for _, y in points) / n
slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
intercept = mean_y - slope * mean_x
mse = sum((y - (slope * x + intercept)) ** 2 for x, y in points) / n
save(slope=round(slope, 3), intercept=round(intercept, 3), mse=round(mse, 3))
print(f"trained on {n} rows")
