"""explainops_devtools."""
