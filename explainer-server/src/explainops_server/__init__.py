"""explainops_server."""
