#!/usr/bin/python3
"""Baseline for the clean benchmark: the pandas cleaning users run today.

Reads the purchases CSV, coerces types the usual way (to_datetime /
to_numeric with errors="coerce"), splits rejected rows from clean ones and
writes both with to_csv.

    /usr/bin/python3 scripts/bench/clean_pandas.py purchases.csv clean.csv rejects.csv
"""
import sys

import pandas as pd


def main(src, out, rejects):
    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df.insert(len(df.columns), "_row", df.index + 2)  # header is line 1; no quoted newlines
    date = pd.to_datetime(df["date"].str.strip(), format="%Y-%m-%d", errors="coerce")
    store = pd.to_numeric(df["store_id"].str.strip().replace("", None), errors="coerce")
    price = pd.to_numeric(df["price"].str.strip(), errors="coerce")
    qty = pd.to_numeric(df["quantity"].str.strip(), errors="coerce")
    promo = df["promo"].str.strip().str.lower()
    bad = (date.isna() | price.isna() | (price < 0) | qty.isna()
           | (df["store_id"].str.strip().ne("") & (store.isna() | (store < 1)))
           | ~promo.isin(["true", "false", ""]))
    clean = pd.DataFrame({
        "date": date.dt.strftime("%Y-%m-%d"),
        "store_id": store.astype("Int64"),
        "item_id": df["item_id"].str.strip(),
        "category": df["category"].str.strip(),
        "price": price,
        "quantity": qty.astype("Int64"),
        "promo": promo,
        "note": df["note"].str.strip(),
        "_row": df["_row"],
    })[~bad]
    clean.to_csv(out, index=False)
    df[bad].to_csv(rejects, index=False)
    print(f"{len(df)} rows in, {len(clean)} clean, {int(bad.sum())} rejected", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:4])
