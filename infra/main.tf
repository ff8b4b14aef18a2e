# dropcast: a CSV dropped in the inbox bucket becomes predictions.
#
#   inbox --(Eventarc: object finalized)--> ingest --(Cloud Tasks)--> preprocess
#     --> load (BigQuery) --> predict (Vertex AI / AutoML) --> postprocess
#   every step --(Pub/Sub events topic)--> notify --> Slack
#   Cloud Scheduler --> sweep (every few minutes)
#   Cloud Scheduler --(a spec's schedules)--> trigger --> export (BigQuery)
#     --> predict --> postprocess
#   status: private HTTP status page
#
# Every function is built from one archive of the repository: the root Go
# package blank-imports every function package and each deployment picks its
# entry point. infra/infratest checks this file set against the Go code.

locals {
  # Steps call each other at STEP_BASE_URL/NAME, which is exactly the URL
  # shape of a Cloud Run function (gen2) created with the Cloud Functions v2
  # API: https://REGION-PROJECT.cloudfunctions.net/NAME ("If the Cloud Run
  # service was created as a function with the Cloud Functions v2 API, the
  # service is also assigned a cloudfunctions.net URL",
  # https://cloud.google.com/run/docs/triggering/https-request). Cloud Run
  # ingress "Internal" admits Cloud Tasks and Cloud Scheduler only "if they're
  # using the default run.app URL and not a custom domain"
  # (https://cloud.google.com/run/docs/securing/ingress); nothing documents
  # that they are admitted at this URL, so var.step_ingress defaults to
  # ALLOW_ALL (IAM still admits only the invoker). See infra/README.md, Ingress.
  step_base_url = "https://${var.region}-${var.project_id}.cloudfunctions.net"

  specs_prefix = "specs/"
  specs_dir    = startswith(var.specs_dir, "/") ? var.specs_dir : "${path.module}/../${var.specs_dir}"

  # Event-driven functions may run at most 9 minutes.
  event_timeout_seconds = 540

  # Every function of functions/<name>: its key is both the function name and
  # the entry point it registers in init(). trigger is null for HTTP functions.
  #
  # memory is the measured peak resident memory of the function as its own
  # process (every function a functions-framework process, as on Cloud Run),
  # over a 100,000-row and a 3,000,000-row file with every step checkpointing:
  #   go test ./e2e -run '^$' -bench StepMemory -benchtime 1x -timeout 60m
  # plus headroom: the smallest tier that is at least twice the peak, and no
  # less than 256Mi, the default ("By default, the memory allocated for a
  # function is 256MB or 256 MiB"). Tiers and the vCPU each brings: "Available
  # memory and CPU tiers are shown in the following table" (128 MiB .083 vCPU,
  # 256 MiB .167, 512 MiB .333, 1 GiB .583, 2 GiB 1, …;
  # https://cloud.google.com/functions/docs/configuring/memory); infratest
  # refuses any other value. CPU follows memory: a larger tier makes a step
  # faster, not safer. export, trigger, sweep and status are not measured by
  # the benchmark and keep their earlier settings.
  # The Go runtime's soft memory limit for each memory tier: 90% of it, the
  # rest left to what the limit does not count (the binary's mappings, the
  # OS's buffers). "The GOMEMLIMIT variable sets a soft memory limit for the
  # runtime. This memory limit includes the Go heap and all other memory
  # managed by the runtime ... GOMEMLIMIT is a numeric value in bytes with an
  # optional unit suffix. The supported suffixes include B, KiB, MiB, GiB,
  # and TiB" (https://pkg.go.dev/runtime, Environment Variables); "the runtime
  # will try to maintain this memory limit by limiting the size of the heap,
  # and by returning memory to the underlying platform more aggressively"
  # (https://github.com/golang/go/issues/48409). Without it the heap may grow
  # to twice what is live (GOGC=100) whatever the instance's memory, so an
  # instance can be killed with garbage it could have collected.
  go_memory_limit = {
    "128Mi" = "115MiB"
    "256Mi" = "230MiB"
    "512Mi" = "460MiB"
    "1Gi"   = "921MiB"
    "2Gi"   = "1843MiB"
    "4Gi"   = "3686MiB"
    "8Gi"   = "7373MiB"
    "16Gi"  = "14746MiB"
    "32Gi"  = "29491MiB"
  }

  functions = {
    ingest = {
      description = "Starts a run when a CSV is uploaded to the inbox bucket."
      memory      = "256Mi" # measured peak 49 MiB (the bundle's baseline)
      ingress     = var.step_ingress
      # Eventarc rather than a GCS Pub/Sub notification: the trigger is part of
      # the function resource, authenticates with the function's own service
      # account, and Terraform manages no extra topic or subscription. Retried:
      # ingest is idempotent (run ID from bucket, object, generation).
      trigger = {
        event_type   = "google.cloud.storage.object.v1.finalized"
        filters      = { bucket = google_storage_bucket.inbox.name }
        pubsub_topic = null
        retry        = true
      }
    }
    preprocess = {
      description = "Validates and cleans the uploaded CSV into parts and a rejects file."
      # Measured peak 70 MiB at 3,000,000 rows in 22 segments of 250 ms (98 MiB before
      # the upload buffers were bounded; 61-73 MiB at 100,000 rows in 6-18 segments).
      # The live heap does not grow with the invocations an instance serves
      # (functions/preprocess TestInvocationsDoNotAccumulate): the growth measured
      # before (57, 97, 124 MiB after 1, 7, 26 segments) was garbage, two 16 MiB
      # upload buffers per segment, not a leak. 512Mi rather than 256Mi for the CPU
      # that comes with it (0.333 vCPU, not 0.167: "The amount of allocated memory
      # you choose corresponds to an amount of allocated CPU for your function",
      # https://cloud.google.com/functions/docs/configuring/memory): cleaning is CPU-bound.
      memory  = "512Mi"
      ingress = var.step_ingress
      trigger = null
    }
    load = {
      description = "Loads the clean parts into BigQuery."
      memory      = "256Mi" # measured peak 50 MiB
      ingress     = var.step_ingress
      trigger     = null
    }
    predict = {
      description = "Runs the pipeline's model: Vertex AI (default) or AutoML, batch or online."
      memory      = "256Mi" # measured peak 60 MiB in batch mode (online mode is not measured)
      ingress     = var.step_ingress
      trigger     = null
    }
    postprocess = {
      description = "Writes results to the results bucket and BigQuery and finishes the run."
      memory      = "256Mi" # measured peak 108 MiB (74 MiB in the last run)
      ingress     = var.step_ingress
      trigger     = null
    }
    notify = {
      description = "Posts run events to Slack."
      memory      = "256Mi" # measured peak 45 MiB
      ingress     = var.step_ingress
      # Not retried: a notification never holds up or repeats a run.
      trigger = {
        event_type   = "google.cloud.pubsub.topic.v1.messagePublished"
        filters      = {}
        pubsub_topic = google_pubsub_topic.events.id
        retry        = false
      }
    }
    export = {
      description = "First step of a scheduled run: exports a BigQuery table or query as the run's clean parts."
      memory      = "1Gi"
      ingress     = var.step_ingress
      trigger     = null
    }
    trigger = {
      description = "Starts a scheduled run of a pipeline (Cloud Scheduler, one job per schedule in the specs)."
      memory      = "256Mi"
      ingress     = var.step_ingress
      trigger     = null
    }
    sweep = {
      description = "Re-drives stuck runs, starts runs for missed files and undeploys idle models (Cloud Scheduler)."
      memory      = "512Mi"
      ingress     = var.step_ingress
      trigger     = null
    }
    status = {
      description = "Status page of recent runs (private: IAM-authenticated)."
      memory      = "256Mi"
      # Reached by people (gcloud run services proxy, or with an identity
      # token), so it accepts traffic from outside Google Cloud; IAM still applies.
      ingress = "ALLOW_ALL"
      trigger = null
    }
  }

  # Who may invoke each function (roles/run.invoker on its Cloud Run service).
  # HTTP steps: only the invoker service account, whose OIDC token Cloud Tasks
  # and Cloud Scheduler send. Event-driven functions: their own service
  # account, which is their Eventarc trigger's identity. status: the people in
  # var.status_viewers. Nobody else, and never allUsers.
  function_invokers = {
    for name, f in local.functions : name => (
      f.trigger != null ? tomap({ self = google_service_account.fn[name].member }) :
      name == "status" ? tomap({ for m in var.status_viewers : m => m }) :
      tomap({ invoker = google_service_account.invoker.member })
    )
  }

  # Configuration of every function (shared/config.Config). Required variables
  # go to every function; DROPCAST_STEP_TIMEOUT is per function (see below).
  # Emulator endpoints (DROPCAST_*_ENDPOINT) are never set here.
  function_env = {
    DROPCAST_PROJECT           = var.project_id
    DROPCAST_REGION            = var.region
    DROPCAST_BIGQUERY_LOCATION = google_bigquery_dataset.main.location
    DROPCAST_INBOX_BUCKET      = google_storage_bucket.inbox.name
    DROPCAST_STATE_BUCKET      = google_storage_bucket.state.name
    DROPCAST_WORK_BUCKET       = google_storage_bucket.work.name
    DROPCAST_RESULTS_BUCKET    = google_storage_bucket.results.name
    DROPCAST_SPECS             = "gs://${google_storage_bucket.state.name}/${local.specs_prefix}"
    DROPCAST_TASKS_QUEUE       = "projects/${var.project_id}/locations/${var.region}/queues/${google_cloud_tasks_queue.steps.name}"
    DROPCAST_STEP_BASE_URL     = local.step_base_url
    DROPCAST_INVOKER_SA        = google_service_account.invoker.email
    DROPCAST_EVENTS_TOPIC      = google_pubsub_topic.events.name
    DROPCAST_DISPATCH_DEADLINE = "${var.step_timeout_seconds}s"
    DROPCAST_SAFETY_MARGIN     = "${var.safety_margin_seconds}s"
    DROPCAST_POLL_INTERVAL     = "${var.poll_interval_seconds}s"
    DROPCAST_MAX_ATTEMPTS      = tostring(var.max_attempts)
    DROPCAST_STATUS_URL        = "${local.step_base_url}/status"
    DROPCAST_SWEEP_LOOKBACK    = "${var.sweep_lookback_hours}h"
    DROPCAST_UNDEPLOY_GRACE    = "${var.undeploy_grace_minutes}m"
  }

  # Secret environment variables by name: the Secret Manager secret holding it.
  secret_env = {
    DROPCAST_SLACK_WEBHOOK = google_secret_manager_secret.slack_webhook.secret_id
    DROPCAST_WEBHOOK_URL   = google_secret_manager_secret.webhook.secret_id
  }

  # Secret environment variables each function mounts.
  function_secrets = {
    notify = { for k in var.notify_secrets : k => local.secret_env[k] }
  }

  function_timeouts = {
    for name, f in local.functions : name => f.trigger == null ? var.step_timeout_seconds : local.event_timeout_seconds
  }
}

# --- APIs --------------------------------------------------------------------

resource "google_project_service" "api" {
  for_each = toset(concat([
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "cloudtasks.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ], var.enable_automl ? ["automl.googleapis.com"] : []))

  service            = each.value
  disable_on_destroy = false
}

# --- Source ------------------------------------------------------------------

# The repository, minus what the build does not need. Any change to a packaged
# file changes the object name and so redeploys every function.
data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/.build/source.zip"
  excludes = [
    ".git", ".git/**",
    ".github", ".github/**",
    ".dropcast", ".dropcast/**",
    "infra", "infra/**",
    "e2e", "e2e/**",
    "dropcast", # the locally built binary
    "**/*_test.go",
  ]
}

resource "google_storage_bucket_object" "source" {
  bucket = google_storage_bucket.source.name
  name   = "source/${data.archive_file.source.output_md5}.zip"
  source = data.archive_file.source.output_path
}

# --- Functions ---------------------------------------------------------------

module "function" {
  source   = "./modules/function"
  for_each = local.functions

  project_id  = var.project_id
  region      = var.region
  name        = each.key
  entry_point = each.key
  description = each.value.description
  runtime     = var.runtime
  memory      = each.value.memory
  ingress     = each.value.ingress
  labels      = var.labels

  source_bucket         = google_storage_bucket.source.name
  source_object         = google_storage_bucket_object.source.name
  build_service_account = google_service_account.builder.id
  service_account_email = google_service_account.fn[each.key].email

  timeout_seconds = local.function_timeouts[each.key]
  max_instances   = var.max_instances
  environment = merge(local.function_env, {
    DROPCAST_STEP_TIMEOUT = "${local.function_timeouts[each.key]}s"
    GOMEMLIMIT            = local.go_memory_limit[each.value.memory]
  })
  secret_environment = lookup(local.function_secrets, each.key, {})
  event_trigger      = each.value.trigger
  invokers           = local.function_invokers[each.key]

  # Roles must exist, and have propagated, before deploy: the runtime checks
  # secret access, and Eventarc checks the trigger identity and the GCS
  # service agent (time_sleep.iam_propagation below).
  depends_on = [time_sleep.iam_propagation]
}

# A first apply enables the APIs and grants the roles moments before it creates
# the functions. Both settle asynchronously: "access changes, such as granting
# a role or denying a permission, are eventually consistent ... Typically 2
# minutes, potentially 7 minutes or longer"
# (https://cloud.google.com/iam/docs/access-change-propagation), and the
# Eventarc service agent appears some time after eventarc.googleapis.com is
# enabled (users report "Permission denied while using the Eventarc Service
# Agent" on first applies; no Google page we found states a delay for it, so
# the wait below covers it by the IAM figure). Google's own Terraform samples wait with
# time_sleep for exactly this: the provider's google_cloudfunctions2_function
# example "cloudfunctions2_basic_builder" ("# builder permissions need to
# stablize before it can pull the source zip", time_sleep 60s;
# https://github.com/GoogleCloudPlatform/magic-modules/blob/main/mmv1/templates/terraform/examples/cloudfunctions2_basic_builder.tf.tmpl)
# and the Eventarc sample "Add a delay to allow for service agent and IAM
# permissions propagation" (time_sleep; https://github.com/terraform-google-modules/terraform-docs-samples/blob/main/eventarc/use_cmek/advanced/main.tf).
# The sleep runs when it is created and again whenever the set of grants
# changes (triggers), so a later apply that adds a grant also waits for it.
# Every grant is waited for, not only those the deploy checks, so that the
# first run after apply (dropcast smoke) does not race the runtime grants.
resource "time_sleep" "iam_propagation" {
  create_duration = "${var.iam_propagation_seconds}s"

  triggers = {
    apis = join(",", sort(keys(google_project_service.api)))
    grants = join(",", sort(concat(
      keys(google_project_iam_member.sa),
      keys(google_storage_bucket_iam_member.sa),
      keys(google_secret_manager_secret_iam_member.sa),
      keys(google_pubsub_topic_iam_member.sa),
      keys(google_bigquery_dataset_iam_member.sa),
      keys(google_cloud_tasks_queue_iam_member.sa),
      keys(google_service_account_iam_member.sa),
    )))
  }

  depends_on = [
    google_project_service.api,
    google_project_iam_member.sa,
    google_storage_bucket_iam_member.sa,
    google_secret_manager_secret_iam_member.sa,
    google_pubsub_topic_iam_member.sa,
    google_bigquery_dataset_iam_member.sa,
    google_cloud_tasks_queue_iam_member.sa,
    google_service_account_iam_member.sa,
    google_project_iam_member.gcs_agent_pubsub,
  ]
}

# --- Pipeline specs ----------------------------------------------------------

locals {
  # Every spec file in specs_dir, decoded. A file that is not YAML fails the
  # plan, as it would fail every function that loads the specs.
  spec_files = fileset(local.specs_dir, "*.{yaml,yml}")
  specs      = { for f in local.spec_files : f => yamldecode(file("${local.specs_dir}/${f}")) }

  # Every schedule of every spec (the specs are the only list of schedules),
  # keyed "PIPELINE/SCHEDULE". flatten([...]) accepts a spec without
  # schedules or with "schedules:" left empty; a spec with schedules must
  # have a name. A schedule name used twice in one spec fails the plan with
  # "Duplicate object key".
  schedules = merge([
    for f, spec in local.specs : {
      for s in flatten([try(spec.schedules, [])]) : "${spec.name}/${s.name}" => {
        file      = f
        pipeline  = spec.name
        schedule  = s.name
        cron      = s.cron
        time_zone = try(s.time_zone, null) == null || try(s.time_zone, "") == "" ? "Etc/UTC" : s.time_zone
      } if s != null
    }
  ]...)
}

resource "google_storage_bucket_object" "spec" {
  for_each = local.spec_files

  bucket       = google_storage_bucket.state.name
  name         = "${local.specs_prefix}${each.value}"
  source       = "${local.specs_dir}/${each.value}"
  content_type = "application/yaml"

  lifecycle {
    # The functions load every spec or none: two specs with one name fail them all.
    precondition {
      condition     = length([for f, spec in local.specs : f if try(spec.name, null) == try(local.specs[each.key].name, null)]) == 1
      error_message = "${each.key}: another spec in specs_dir has the same name (or neither has one); pipeline names must be unique."
    }
  }
}
