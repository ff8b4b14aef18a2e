output "inbox_bucket" {
  description = "Upload CSVs here, under incoming/ (gs://BUCKET/incoming/YYYYMMDD-HHMMSS.csv)."
  value       = google_storage_bucket.inbox.name
}

output "state_bucket" {
  description = "Run records (runs/) and pipeline specs (specs/)."
  value       = google_storage_bucket.state.name
}

output "work_bucket" {
  description = "Intermediate files, deleted after work_retention_days."
  value       = google_storage_bucket.work.name
}

output "results_bucket" {
  description = "Results CSVs."
  value       = google_storage_bucket.results.name
}

output "specs_uri" {
  description = "Where the functions read pipeline specs (DROPCAST_SPECS)."
  value       = local.function_env.DROPCAST_SPECS
}

output "dataset" {
  description = "BigQuery dataset for loaded and result tables (PROJECT.DATASET)."
  value       = "${var.project_id}.${google_bigquery_dataset.main.dataset_id}"
}

output "tasks_queue" {
  description = "Full name of the steps queue (DROPCAST_TASKS_QUEUE)."
  value       = local.function_env.DROPCAST_TASKS_QUEUE
}

output "events_topic" {
  description = "Run events topic ID (DROPCAST_EVENTS_TOPIC)."
  value       = google_pubsub_topic.events.name
}

output "slack_webhook_secret" {
  description = "Secret to add the Slack webhook URL to: gcloud secrets versions add SECRET --data-file=-"
  value       = google_secret_manager_secret.slack_webhook.secret_id
}

output "webhook_secret" {
  description = "Secret for the generic JSON webhook (DROPCAST_WEBHOOK_URL), mounted when listed in notify_secrets."
  value       = google_secret_manager_secret.webhook.secret_id
}

output "function_urls" {
  description = "URL of every function."
  value       = { for name, f in module.function : name => f.url }
}

output "status_url" {
  description = "Status page (private: open it with gcloud run services proxy status, or with an identity token)."
  value       = local.function_env.DROPCAST_STATUS_URL
}

output "invoker_service_account" {
  description = "Identity Cloud Tasks and Cloud Scheduler call the steps as."
  value       = google_service_account.invoker.email
}

output "scheduled_runs" {
  description = "Cloud Scheduler job of every schedule in the pipeline specs, by PIPELINE/SCHEDULE."
  value       = { for k, j in google_cloud_scheduler_job.run : k => j.name }
}

output "dropcast_env" {
  description = "The deployment's DROPCAST_* configuration (no secrets) for the command line: export $(terraform -chdir=infra output -raw dropcast_env), then dropcast runs … or dropcast smoke."
  value       = join(" ", [for k in sort(keys(local.function_env)) : "${k}=${local.function_env[k]}"])
}
