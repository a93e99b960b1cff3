"""Training strategies: one module per update rule; see registry.py for the names."""
