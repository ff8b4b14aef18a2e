variable "project_id" {
  description = "Google Cloud project that holds every dropcast resource."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id: 6 to 30 lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "Region of the functions, queue, buckets, dataset and Vertex AI calls (a single region, e.g. us-central1)."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region: a single region such as us-central1 (not a multi-region)."
  }
}

variable "name_prefix" {
  description = "Prefix of bucket, queue, topic, secret and service account names. Function names are not prefixed: they are the step names the code calls."
  type        = string
  default     = "dropcast"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,16}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3 to 18 lower-case letters, digits and dashes (service account IDs are PREFIX-postprocess, at most 30 characters)."
  }
}

variable "labels" {
  description = "Labels put on every resource that takes labels."
  type        = map(string)
  default     = { app = "dropcast" }
}

variable "runtime" {
  description = "Cloud Run functions runtime; must match the go directive of go.mod."
  type        = string
  default     = "go126"

  validation {
    condition     = can(regex("^go1[0-9]{2}$", var.runtime))
    error_message = "runtime: a Go runtime such as go126."
  }
}

variable "step_timeout_seconds" {
  description = "Timeout of the HTTP functions and dispatch deadline of their Cloud Tasks tasks (DROPCAST_STEP_TIMEOUT and DROPCAST_DISPATCH_DEADLINE). Cloud Tasks allows 15 s to 30 min."
  type        = number
  default     = 600

  validation {
    condition     = var.step_timeout_seconds >= 60 && var.step_timeout_seconds <= 1800
    error_message = "step_timeout_seconds: 60 to 1800 (the Cloud Tasks dispatch deadline is at most 30 minutes)."
  }
}

variable "safety_margin_seconds" {
  description = "Time a step keeps free at the end of its budget to checkpoint and enqueue its continuation (DROPCAST_SAFETY_MARGIN)."
  type        = number
  default     = 30

  validation {
    condition     = var.safety_margin_seconds >= 5 && var.safety_margin_seconds * 4 <= var.step_timeout_seconds
    error_message = "safety_margin_seconds: at least 5 and at most a quarter of step_timeout_seconds."
  }
}

variable "poll_interval_seconds" {
  description = "Delay before a step polls a BigQuery job or prediction operation again (DROPCAST_POLL_INTERVAL)."
  type        = number
  default     = 30

  validation {
    condition     = var.poll_interval_seconds >= 5 && var.poll_interval_seconds <= 3600
    error_message = "poll_interval_seconds: 5 to 3600."
  }
}

variable "max_attempts" {
  description = "Attempts of one step task before Cloud Tasks gives up; the queue's max_attempts and DROPCAST_MAX_ATTEMPTS (the last failing attempt fails the run)."
  type        = number
  default     = 10

  validation {
    condition     = var.max_attempts >= 2 && var.max_attempts <= 100
    error_message = "max_attempts: 2 to 100."
  }
}

variable "max_instances" {
  description = "Upper bound on instances of each function."
  type        = number
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && var.max_instances <= 1000
    error_message = "max_instances: 1 to 1000."
  }
}

variable "queue_max_concurrent_dispatches" {
  description = "Tasks the steps queue runs at once. At most max_instances: a step function at its instance limit answers 429, which costs the task an attempt."
  type        = number
  default     = 10

  validation {
    condition     = var.queue_max_concurrent_dispatches >= 1 && var.queue_max_concurrent_dispatches <= var.max_instances
    error_message = "queue_max_concurrent_dispatches: 1 to max_instances."
  }
}

variable "queue_max_dispatches_per_second" {
  description = "Rate at which the steps queue dispatches tasks."
  type        = number
  default     = 5

  validation {
    condition     = var.queue_max_dispatches_per_second > 0 && var.queue_max_dispatches_per_second <= 500
    error_message = "queue_max_dispatches_per_second: more than 0, at most 500."
  }
}

variable "work_retention_days" {
  description = "Days after which clean parts, rejects and prediction files in the work bucket are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.work_retention_days >= 1 && var.work_retention_days <= 3650
    error_message = "work_retention_days: 1 to 3650."
  }
}

variable "inbox_retention_days" {
  description = "Days after which uploaded files in the inbox bucket are deleted; 0 keeps them."
  type        = number
  default     = 0

  validation {
    condition     = var.inbox_retention_days >= 0 && var.inbox_retention_days <= 3650
    error_message = "inbox_retention_days: 0 (keep) to 3650."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets and the dataset's tables. Keep false in production."
  type        = bool
  default     = false
}

variable "specs_dir" {
  description = "Directory of pipeline spec files (*.yaml, *.yml), relative to the repository root or absolute. They are uploaded to gs://STATE_BUCKET/specs/, and each of their schedules gets a Cloud Scheduler job."
  type        = string
  default     = "infra/specs"

  validation {
    condition     = length(trimspace(var.specs_dir)) > 0
    error_message = "specs_dir: must not be empty."
  }
}

variable "sweep_interval_minutes" {
  description = "Minutes between sweeps (re-drive stuck runs, pick up files whose event was lost, undeploy idle models)."
  type        = number
  default     = 10

  validation {
    condition     = contains([1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60], var.sweep_interval_minutes)
    error_message = "sweep_interval_minutes: a divisor of 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)."
  }
}

variable "sweep_lookback_hours" {
  description = "How far back, by upload time, the sweep looks for inbox files whose event was lost (DROPCAST_SWEEP_LOOKBACK). Files older than this are never picked up by the sweep."
  type        = number
  default     = 24

  validation {
    condition     = var.sweep_lookback_hours >= 1 && var.sweep_lookback_hours <= 720 && floor(var.sweep_lookback_hours) == var.sweep_lookback_hours
    error_message = "sweep_lookback_hours: a whole number of hours, 1 to 720 (30 days)."
  }
}

variable "undeploy_grace_minutes" {
  description = "Minutes a deployed model may sit with no run holding it before the sweep undeploys it (DROPCAST_UNDEPLOY_GRACE). Longer keeps endpoints warm between runs, at the cost of paying for them."
  type        = number
  default     = 15

  validation {
    condition     = var.undeploy_grace_minutes >= 0 && var.undeploy_grace_minutes <= 10080 && floor(var.undeploy_grace_minutes) == var.undeploy_grace_minutes
    error_message = "undeploy_grace_minutes: a whole number of minutes, 0 to 10080 (a week)."
  }
}

variable "enable_automl" {
  description = "Grant predict and sweep roles/automl.editor for pipelines whose spec says backend: automl (AutoML Tables v1beta1, shut down by Google on 2024-03-31; Vertex AI is the default)."
  type        = bool
  default     = false
}

variable "notify_secrets" {
  description = "Secret environment variables mounted on notify. The default [] deploys notify without webhooks, so a first apply needs no hand step. To turn one on: apply once (Terraform creates the secret), add a version with gcloud, then list it here and apply again; a listed secret without a version fails the deploy (see infra/README.md)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.notify_secrets : contains(["DROPCAST_SLACK_WEBHOOK", "DROPCAST_WEBHOOK_URL"], s)])
    error_message = "notify_secrets: DROPCAST_SLACK_WEBHOOK and/or DROPCAST_WEBHOOK_URL."
  }
}

variable "step_ingress" {
  description = "Ingress of every function but status. ALLOW_ALL (default): the network admits every request and IAM admits only the invoker service account (HTTP steps) or the trigger's identity (event-driven). ALLOW_INTERNAL_ONLY is documented to admit Cloud Tasks and Cloud Scheduler only at the run.app URL, and the steps call each other at the cloudfunctions.net URL (DROPCAST_STEP_BASE_URL): see infra/README.md, Ingress."
  type        = string
  default     = "ALLOW_ALL"

  validation {
    condition     = contains(["ALLOW_INTERNAL_ONLY", "ALLOW_ALL"], var.step_ingress)
    error_message = "step_ingress: ALLOW_INTERNAL_ONLY or ALLOW_ALL."
  }
}

variable "status_viewers" {
  description = "Principals (user:, group:, serviceAccount:, domain:) allowed to open the status page. Project owners and editors can always reach it with gcloud run services proxy."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for m in var.status_viewers : can(regex("^(user|group|serviceAccount|domain):.+$", m))])
    error_message = "status_viewers: members such as user:ana@example.com or group:ops@example.com; allUsers and allAuthenticatedUsers are not allowed."
  }
}

variable "iam_propagation_seconds" {
  description = "Seconds Terraform waits after enabling the APIs and granting the roles before it creates the functions (time_sleep.iam_propagation). IAM changes typically propagate in 2 minutes, potentially 7 or longer."
  type        = number
  default     = 120

  validation {
    condition     = var.iam_propagation_seconds >= 0 && var.iam_propagation_seconds <= 1800 && floor(var.iam_propagation_seconds) == var.iam_propagation_seconds
    error_message = "iam_propagation_seconds: a whole number, 0 to 1800."
  }
}
