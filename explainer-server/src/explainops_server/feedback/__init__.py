"""Feedback stores: predictions and feedback behind one interface (SQLite default, PostgreSQL for replicas).

`open_store(dsn)` is the one way to open a store; `FeedbackStore.labelled_examples(model_name)` is what
the retraining job reads.
"""

from explainops_server.feedback.base import FeedbackStore, LabelledExample
from explainops_server.feedback.factory import open_store

__all__ = ["FeedbackStore", "LabelledExample", "open_store"]
