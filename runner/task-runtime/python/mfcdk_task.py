"""metaflow-cdk task runtime (placeholder; the real one lands with the one-container job shape)."""
