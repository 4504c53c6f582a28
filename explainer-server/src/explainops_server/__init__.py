"""explainops_server: the ExplainOps data plane."""

__version__ = "0.1.0"
