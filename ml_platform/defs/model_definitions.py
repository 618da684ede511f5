"""One model's whole graph, from ingestion to Bento, with its jobs, sensors and schedules.

Every stage's factory is called once with the model's `ModelScope`, so the same code builds each model
of the code location under its own names (`ml_platform/model_scope.py`).
"""

from __future__ import annotations

import dagster as dg

from ml_platform.defs.evaluation.assets import evaluation_report_asset
from ml_platform.defs.features.assets import features_asset
from ml_platform.defs.ingestion.assets import raw_data_asset
from ml_platform.defs.ingestion.sensors import new_data_sensor_for
from ml_platform.defs.ingestion.served_traffic import inference_log_sensor_for
from ml_platform.defs.jobs import ModelJobs
from ml_platform.defs.monitoring.assets import drift_report_asset, reference_profile_asset
from ml_platform.defs.monitoring.performance import live_performance_asset
from ml_platform.defs.monitoring.quality import quality_sensor
from ml_platform.defs.monitoring.sensors import labels_sensor_for, retrain_sensor_for
from ml_platform.defs.promotion.alias_history import alias_history_spec
from ml_platform.defs.promotion.assets import promoted_model_asset
from ml_platform.defs.promotion.decision import challenger_sensor_for, decide_promotion_job, promotion_decision_asset
from ml_platform.defs.retention.assets import retention_report_asset, retention_schedule
from ml_platform.defs.scoring.assets import predictions_asset
from ml_platform.defs.scoring.sensors import score_file_job, scoring_sensor_for
from ml_platform.defs.serving.assets import bento_asset
from ml_platform.defs.training.assets import training_set_asset
from ml_platform.defs.training.schedules import retrain_schedule
from ml_platform.defs.training.trained_model import trained_model_asset
from ml_platform.defs.validation.assets import validate_batch_assets
from ml_platform.lib.spec import Training
from ml_platform.model_scope import ModelScope


def model_definitions(model: ModelScope, sensors: bool = True, retrain_cron: str | None = None) -> dg.Definitions:
    """`sensors=False` leaves the closed loop out (`make run` drives the jobs itself). `retrain_cron` is the
    spec's `training.retrain_cron` unless given: a schedule's cron is fixed when the code loads."""
    jobs, decide, score = ModelJobs.build(model), decide_promotion_job(model), score_file_job(model)
    assets = [raw_data_asset(model), validate_batch_assets(model), features_asset(model),
              training_set_asset(model), trained_model_asset(model), evaluation_report_asset(model),
              promoted_model_asset(model), bento_asset(model), alias_history_spec(model),
              reference_profile_asset(model), drift_report_asset(model), live_performance_asset(model),
              promotion_decision_asset(model), predictions_asset(model), retention_report_asset(model)]
    loop = [new_data_sensor_for(model, jobs), inference_log_sensor_for(model), labels_sensor_for(model, jobs),
            retrain_sensor_for(model, jobs), quality_sensor(model), challenger_sensor_for(model, decide),
            scoring_sensor_for(model, score)] if sensors else []
    cron = retrain_cron or _spec_cron(model)
    return dg.Definitions(assets=assets, jobs=[*jobs.all(), decide, score], sensors=loop,
                          schedules=[retrain_schedule(model, jobs, cron), retention_schedule(model)],
                          metadata=model.declaration)


def _spec_cron(model: ModelScope) -> str:
    """The spec's retrain cron; the default when the spec cannot be read yet (its error shows at run time)."""
    try:
        return model.spec().training.retrain_cron
    except (OSError, ValueError):
        return Training().retrain_cron
