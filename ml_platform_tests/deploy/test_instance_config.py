"""deploy/dagster-k8s.yaml loads into a real DagsterInstance on a real PostgreSQL, so dagster's own config
schemas (dagster-k8s's K8sRunLauncher, dagster-postgres's storages, ours) accept every section."""

import dagster as dg
from dagster_k8s import K8sRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from ml_platform.k8s import AssetSizedRunCoordinator
from ml_platform_tests.deploy.job_checks import IMAGE


def test_the_kubernetes_instance_config_loads_into_a_real_instance(k8s_instance_home):
    with dg.DagsterInstance.get() as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, K8sRunLauncher)
        assert launcher.job_image == IMAGE
        assert launcher.job_namespace == "ml-platform"
        assert launcher.env_config_maps == ["ml-platform-env"]
        assert launcher.env_secrets == ["ml-platform-secrets"]
        assert launcher.postgres_password_secret == "dagster-postgresql-secret"
        assert launcher.resources["requests"] == {"cpu": "500m", "memory": "1Gi"}
        assert launcher.fail_pod_on_run_failure is True

        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert instance.get_runs() == []

        coordinator = instance.run_coordinator
        assert isinstance(coordinator, AssetSizedRunCoordinator)
        assert coordinator.get_run_queue_config().max_concurrent_runs == 4

        assert instance.run_monitoring_enabled and instance.run_monitoring_max_resume_run_attempts == 0
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2
        assert instance.scheduler.__class__.__name__ == "DagsterDaemonScheduler"
