"""explainops_operator."""
