"""Per-source extensions of the moto harness (see `moto_harness._load_extensions`)."""
