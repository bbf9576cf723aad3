"""HTTP and WebSocket layer: routes and response schemas only; logic lives elsewhere."""
