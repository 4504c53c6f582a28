"""Retraining entry point (`explainops-server train`): champion + feedback -> candidate version."""
