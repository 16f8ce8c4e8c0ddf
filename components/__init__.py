"""webstack: the six components, the typed config and the pure renderers."""
