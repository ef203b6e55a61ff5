"""Demo models and the devnet story, built from local data (no downloads)."""
