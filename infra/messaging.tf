# Cloud Tasks queue chaining the steps, the run events topic, the notify
# secrets and the Cloud Scheduler jobs.

# Steps enqueue each other here. The retry settings are the step budget's:
# attempts are bounded by max_attempts alone (max_retry_duration 0 = no time
# limit), so the code's DROPCAST_MAX_ATTEMPTS knows which attempt is the last.
# Dispatch deadline is per task (DROPCAST_DISPATCH_DEADLINE), not per queue.
resource "google_cloud_tasks_queue" "steps" {
  name     = "${var.name_prefix}-steps"
  location = var.region

  rate_limits {
    max_dispatches_per_second = var.queue_max_dispatches_per_second
    max_concurrent_dispatches = var.queue_max_concurrent_dispatches
  }

  retry_config {
    max_attempts       = var.max_attempts
    max_retry_duration = "0s"
    min_backoff        = "10s"
    max_backoff        = "300s"
    max_doublings      = 5
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.api]
}

# Run events (run.started, step.finished, run.succeeded, run.failed); notify
# subscribes through its Eventarc trigger, anyone else may add a subscription.
resource "google_pubsub_topic" "events" {
  name                       = "${var.name_prefix}-events"
  message_retention_duration = "86400s"

  depends_on = [google_project_service.api]
}

# Webhook secrets: Terraform creates the secrets only, never a version, so no
# webhook URL is ever in Terraform state. Add one with
#   gcloud secrets versions add PREFIX-slack-webhook --data-file=-
resource "google_secret_manager_secret" "slack_webhook" {
  secret_id = "${var.name_prefix}-slack-webhook"

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

resource "google_secret_manager_secret" "webhook" {
  secret_id = "${var.name_prefix}-webhook"

  replication {
    auto {}
  }

  depends_on = [google_project_service.api]
}

# --- Cloud Scheduler ---------------------------------------------------------

locals {
  # Scheduled runs go to trigger when the code has one, else to sweep.
  scheduled_run_target = contains(keys(local.functions), "trigger") ? "trigger" : "sweep"
}

resource "google_cloud_scheduler_job" "sweep" {
  name             = "${var.name_prefix}-sweep"
  region           = var.region
  description      = "Sweep dropcast runs every ${var.sweep_interval_minutes} minutes."
  schedule         = var.sweep_interval_minutes == 60 ? "0 * * * *" : "*/${var.sweep_interval_minutes} * * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "${var.step_timeout_seconds}s"

  retry_config {
    retry_count = 0 # the next sweep is the retry
  }

  http_target {
    http_method = "POST"
    uri         = "${local.step_base_url}/sweep"
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(jsonencode({}))

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = "${local.step_base_url}/sweep"
    }
  }

  depends_on = [module.function]
}

resource "google_cloud_scheduler_job" "run" {
  for_each = { for r in var.scheduled_runs : r.name => r }

  name             = "${var.name_prefix}-run-${each.key}"
  region           = var.region
  description      = "Scheduled run of pipeline ${each.value.pipeline}."
  schedule         = each.value.cron
  time_zone        = each.value.time_zone
  attempt_deadline = "${var.step_timeout_seconds}s"

  retry_config {
    retry_count          = 3
    min_backoff_duration = "30s"
  }

  http_target {
    http_method = "POST"
    uri         = "${local.step_base_url}/${local.scheduled_run_target}"
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(jsonencode({ pipeline = each.value.pipeline, schedule = each.key }))

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = "${local.step_base_url}/${local.scheduled_run_target}"
    }
  }

  depends_on = [module.function]
}
