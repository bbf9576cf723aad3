"""One router per resource, gathered by `api.ingress.create_api`."""
