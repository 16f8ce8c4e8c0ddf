"""The stack config, by concern."""
