"""Explainer plugins behind one small interface (`base.Explainer`) and an explicit registry."""
