"""Model plugins: artifact loading and the in-process tabular model."""
