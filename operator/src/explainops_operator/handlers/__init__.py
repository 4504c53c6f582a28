"""Thin kopf handlers. Importing this package registers every handler with kopf."""
