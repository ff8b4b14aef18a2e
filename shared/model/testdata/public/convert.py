#!/usr/bin/env python3
"""Converts three data sets of the npm package vega-datasets@3.2.1 to CSV.

    npm pack vega-datasets@3.2.1 && tar xzf vega-datasets-3.2.1.tgz
    python3 convert.py package/data

Values are unchanged: JSON numbers are written as Python prints them (39.1,
181), null as an empty cell, strings as they are. Header names become
BigQuery column names (lower case, letters, digits and _), as listed in
NAMES. weather.csv is already CSV; only its rows for 2012 are kept (a small
copy: 732 of its 2922 rows).
"""
import csv
import json
import os
import sys

NAMES = {
    "penguins.json": {
        "Species": "species", "Island": "island", "Beak Length (mm)": "beak_length_mm",
        "Beak Depth (mm)": "beak_depth_mm", "Flipper Length (mm)": "flipper_length_mm",
        "Body Mass (g)": "body_mass_g", "Sex": "sex",
    },
    "cars.json": {
        "Name": "name", "Miles_per_Gallon": "miles_per_gallon", "Cylinders": "cylinders",
        "Displacement": "displacement", "Horsepower": "horsepower", "Weight_in_lbs": "weight_in_lbs",
        "Acceleration": "acceleration", "Year": "year", "Origin": "origin",
    },
}


def cell(v):
    if v is None:
        return ""
    return repr(v) if isinstance(v, float) else str(v)


def main(src):
    for name, names in NAMES.items():
        with open(os.path.join(src, name)) as f:
            records = json.load(f)
        with open(name.replace(".json", ".csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(list(names.values()))
            for r in records:
                w.writerow([cell(r.get(k)) for k in names])
    with open(os.path.join(src, "weather.csv"), newline="") as f:
        rows = list(csv.reader(f))
    with open("weather.csv", "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(rows[0])
        w.writerows(r for r in rows[1:] if r[1].startswith("2012-"))


if __name__ == "__main__":
    main(sys.argv[1])
