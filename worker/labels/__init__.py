"""The labels feed: chargebacks and analysts' decisions → the feature store's terminal risk."""

from worker.labels.apply import Applied, apply_labels
from worker.labels.consumer import LabelsConsumer, LabelsMetrics

__all__ = ["Applied", "LabelsConsumer", "LabelsMetrics", "apply_labels"]
