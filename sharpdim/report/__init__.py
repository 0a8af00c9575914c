"""Reports (layer 7): Markdown + figures with provenance."""
