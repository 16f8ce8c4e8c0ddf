"""Pure renderers: text that goes on a host, with no Pulumi import."""
