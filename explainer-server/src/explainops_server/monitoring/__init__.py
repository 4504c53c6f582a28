"""Monitoring without labels: input drift (PSI / KS per feature) and explanation drift. Pure numpy/scipy."""
