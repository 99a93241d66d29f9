"""The public file contract: schema-tagged JSONL records, NPZ files with a JSON ``meta`` entry, and
the feature store (one NPZ per item plus ``manifest.jsonl``). See docs/formats.md."""
