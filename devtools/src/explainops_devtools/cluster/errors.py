"""The one error hierarchy of the local cluster and its test helpers."""


class ClusterError(Exception):
    """Base of every failure of the local cluster."""


class PrerequisiteError(ClusterError):
    """A binary, package or privilege the local node needs is missing."""


class StartupError(ClusterError):
    """A process exited or did not become ready in time."""


class ForeignClusterError(ClusterError):
    """An API client points at something other than the cluster started here."""
