"""The HTTP and WebSocket face of classhub: routes, sign-in, the SPA, the CLI."""
