"""Report sources other than tokenboard's own `POST /ingest` format (e.g. OTLP)."""
