"""Results: the run store (JSONL -> Parquet, manifest) and metrics derived from records."""
