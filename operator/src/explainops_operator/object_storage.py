"""Pure: the environment that lets a serving pod or the trainer reach s3:// storage.

KServe's S3 conventions (its storage initializer reads the same names): the credentials come from a
Secret with the keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the rest from spec.model.s3.
Without a Secret the pod's own identity is used (e.g. a ServiceAccount bound to a cloud role).
"""

from __future__ import annotations

from typing import Any

from explainops_operator.spec import ExplainableModelSpec, is_s3

S3_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def uses_object_storage(spec: ExplainableModelSpec) -> bool:
    return is_s3(spec.model.storage_uri) or is_s3(spec.retraining.training_data_uri)


def s3_env(spec: ExplainableModelSpec) -> list[dict[str, Any]]:
    """AWS_*/S3_* variables when the model root or the training data is on s3:// (else none)."""
    if not uses_object_storage(spec):
        return []
    s3 = spec.model.s3
    env: list[dict[str, Any]] = []
    if s3 is not None and s3.secret_name:
        env += [
            {"name": key, "valueFrom": {"secretKeyRef": {"name": s3.secret_name, "key": key}}}
            for key in S3_CREDENTIAL_KEYS
        ]
    if s3 is not None and s3.endpoint:
        env.append({"name": "S3_ENDPOINT", "value": s3.endpoint})
    if s3 is not None and s3.region:
        env.append({"name": "AWS_DEFAULT_REGION", "value": s3.region})
    use_https, verify_ssl = (s3.use_https, s3.verify_ssl) if s3 is not None else (True, True)
    env.append({"name": "S3_USE_HTTPS", "value": "1" if use_https else "0"})
    env.append({"name": "S3_VERIFY_SSL", "value": "1" if verify_ssl else "0"})
    return env
