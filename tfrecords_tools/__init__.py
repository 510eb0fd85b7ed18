"""Speech corpora → validated, sharded TFRecords (and a synthetic corpus to start from)."""
