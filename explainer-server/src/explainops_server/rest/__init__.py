"""HTTP transport (FastAPI): app factory, routes, auth and the single error mapping."""
