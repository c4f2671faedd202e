"""torch side: learned model, detector adapter, CLI."""
