"""The retention policy as a resource: per deployment, not per dataset.

How long files are kept is a decision about a deployment's storage bill and its audit rules (a
development stack keeps a week, production what compliance asks), while the dataset spec travels
unchanged from one deployment to the next. So the policy is a resource, set where the others are
(`definitions.platform_resources`) and visible on the resource's page in the UI; a run launched by hand
may override it in the launchpad. Its defaults are `RetentionPolicy`'s.
"""


import dagster as dg
from pydantic import ValidationError

from ml_platform.lib.retention import RetentionPolicy

_DEFAULT = RetentionPolicy()


class RetentionPolicyError(ValueError):
    """A retention setting that cannot work; the message names the setting."""


class RetentionSettings(dg.ConfigurableResource):
    """Days each kind of file is kept (null: forever), and how many model versions and Bentos stay
    beyond the ones something needs. See `ml_platform.lib.retention.RetentionPolicy`."""

    consumed_log_days: float | None = _DEFAULT.consumed_log_days
    unreadable_log_days: float | None = _DEFAULT.unreadable_log_days
    label_days: float | None = _DEFAULT.label_days
    landed_days: float | None = _DEFAULT.landed_days
    drift_report_days: float | None = _DEFAULT.drift_report_days
    evaluation_plot_days: float | None = _DEFAULT.evaluation_plot_days
    reference_sample_days: float | None = _DEFAULT.reference_sample_days
    prediction_days: float | None = _DEFAULT.prediction_days
    step_output_days: float | None = _DEFAULT.step_output_days
    model_versions: int = _DEFAULT.model_versions
    rollback_depth: int = _DEFAULT.rollback_depth
    bentos: int = _DEFAULT.bentos

    def policy(self) -> RetentionPolicy:
        try:
            return RetentionPolicy(**{name: getattr(self, name) for name in RetentionPolicy.model_fields})
        except ValidationError as exc:
            problems = "; ".join(f"retention.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise RetentionPolicyError(problems) from exc
