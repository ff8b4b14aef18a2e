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
# webhook URL is ever in Terraform state. notify mounts a secret only when it
# is listed in var.notify_secrets (default none): a function that mounts
# version "latest" of a secret without versions fails to deploy. Order:
#   1. terraform apply               (creates the secrets; notify mounts none)
#   2. gcloud secrets versions add PREFIX-slack-webhook --data-file=-
#   3. notify_secrets = ["DROPCAST_SLACK_WEBHOOK"]; terraform apply
# The order rests on Cloud Run's "Configure secrets for services": "If the
# secret is an environment variable, Cloud Run retrieves the value of the
# secret prior to starting the instance. If the secret retrieval process
# fails, the instance doesn't start."
# (https://cloud.google.com/run/docs/configuring/secrets). A secret without a
# version has no value to retrieve, so notify's revision never becomes ready.
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

# One job per schedule in the pipeline specs (local.schedules, main.tf). It
# POSTs {"pipeline": P, "schedule": S} to trigger, which derives the run ID
# from the pipeline, the schedule and X-CloudScheduler-ScheduleTime: a retry
# of the same scheduled time finds the run it already started, so retrying is
# safe. Nothing else re-drives a scheduled run whose trigger never got
# through (the sweep only re-drives runs that exist), hence the retries.
resource "google_cloud_scheduler_job" "run" {
  for_each = local.schedules

  # Job IDs allow [A-Za-z0-9_-]; pipeline and schedule names have no "_".
  name             = "${var.name_prefix}-run-${each.value.pipeline}_${each.value.schedule}"
  region           = var.region
  description      = "Schedule ${each.value.schedule} of pipeline ${each.value.pipeline} (${each.value.file})."
  schedule         = each.value.cron
  time_zone        = each.value.time_zone
  attempt_deadline = "${var.step_timeout_seconds}s"

  retry_config {
    retry_count          = 5 # the most Cloud Scheduler allows
    max_retry_duration   = "0s"
    min_backoff_duration = "30s"
    max_backoff_duration = "600s"
    max_doublings        = 3
  }

  http_target {
    http_method = "POST"
    uri         = "${local.step_base_url}/trigger"
    headers     = { "Content-Type" = "application/json" }
    body        = base64encode(jsonencode({ pipeline = each.value.pipeline, schedule = each.value.schedule }))

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = "${local.step_base_url}/trigger"
    }
  }

  lifecycle {
    precondition {
      condition     = can(regex("^[a-z][a-z0-9-]{0,29}$", each.value.schedule)) && can(regex("^[a-z][a-z0-9-]{0,39}$", each.value.pipeline))
      error_message = "${each.value.file}: pipeline and schedule names are lower-case letters, digits and dashes, starting with a letter (at most 40 and 30 characters)."
    }
    precondition {
      condition     = length(regexall("\\S+", each.value.cron)) == 5
      error_message = "${each.value.file}: schedule ${each.value.schedule}: cron is five unix-cron fields, e.g. \"0 6 * * *\"."
    }
  }

  # trigger reads the spec from the state bucket when the job fires.
  depends_on = [module.function, google_storage_bucket_object.spec]
}

# step_ingress = ALLOW_INTERNAL_ONLY is accepted but not documented to work
# with the cloudfunctions.net step URLs (infra/README.md, Ingress): warn.
check "step_ingress_internal" {
  assert {
    condition     = var.step_ingress != "ALLOW_INTERNAL_ONLY"
    error_message = "step_ingress = ALLOW_INTERNAL_ONLY: Cloud Run documents that Cloud Tasks and Cloud Scheduler are internal only at the run.app URL, and the steps call each other at the cloudfunctions.net URL; runs may stop at their first step (infra/README.md, Ingress)."
  }
}
