"""Names used across predictions: the registry models, prediction points, anomaly dimensions, alert states."""

from enum import StrEnum


class ModelName(StrEnum):
    """The prediction models in the registry (`models/<name>/<version>/`)."""

    breach = "sla_breach"
    ttr = "time_to_resolve"
    volume = "volume_anomaly"


class Dimension(StrEnum):
    """What ticket arrivals are counted by for anomalies."""

    category = "category"
    ci = "ci"


class AlertStatus(StrEnum):
    """A volume alert is open until someone acknowledges it; a quiet window closes it."""

    open = "open"
    acknowledged = "acknowledged"
    closed = "closed"
