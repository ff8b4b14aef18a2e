# Service accounts and every role they hold. One account per function, plus
#   invoker: the identity in the OIDC tokens Cloud Tasks and Cloud Scheduler
#            send; the only principal with run.invoker on the HTTP steps;
#   builder: the identity Cloud Build builds the functions as.
# local.sa_roles is the single list of grants; infra/infratest compares it
# with its own table, so a change here is a reviewed change there too.

locals {
  # Account => where the role is granted => roles. Places:
  #   project                            the project
  #   automl                             the project, only with var.enable_automl
  #   inbox, state, work, results,
  #   source                             that bucket
  #   dataset                            the BigQuery dataset
  #   queue                              the steps queue
  #   invoker                            the invoker service account (actAs: enqueue tasks carrying its OIDC token)
  #   events                             the events topic
  #   slack_webhook, webhook             that secret
  sa_roles = {
    ingest = {
      project = ["roles/eventarc.eventReceiver"]
      inbox   = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    preprocess = {
      inbox   = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectAdmin"]
      work    = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    load = {
      project = ["roles/bigquery.jobUser"]
      dataset = ["roles/bigquery.dataEditor"]
      work    = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    predict = {
      project = ["roles/aiplatform.user"]
      automl  = ["roles/automl.editor"]
      dataset = ["roles/bigquery.dataViewer"]
      work    = ["roles/storage.objectAdmin"]
      state   = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    postprocess = {
      project = ["roles/bigquery.jobUser"]
      dataset = ["roles/bigquery.dataEditor"]
      work    = ["roles/storage.objectViewer"]
      results = ["roles/storage.objectAdmin"]
      state   = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    # Reads the schedule's table or query (jobs in this project; tables in the
    # dataset: grant dataViewer elsewhere yourself for queries that read other
    # datasets) and writes the clean parts.
    export = {
      project = ["roles/bigquery.jobUser"]
      dataset = ["roles/bigquery.dataViewer"]
      work    = ["roles/storage.objectAdmin"]
      state   = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    # Creates the run record (state also holds the specs it reads) and
    # enqueues the first step.
    trigger = {
      state   = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    notify = {
      project       = ["roles/eventarc.eventReceiver"]
      slack_webhook = ["roles/secretmanager.secretAccessor"]
      webhook       = ["roles/secretmanager.secretAccessor"]
    }
    sweep = {
      project = ["roles/aiplatform.user"]
      automl  = ["roles/automl.editor"]
      inbox   = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectAdmin"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    status = {
      state = ["roles/storage.objectViewer"]
    }
    invoker = {}
    builder = {
      project = ["roles/run.builder"]
      source  = ["roles/storage.objectViewer"]
    }
  }

  # One entry per grant, keyed "account/place/role" (keys known at plan time).
  sa_grants = {
    for g in flatten([
      for sa, places in local.sa_roles : [
        for place, roles in places : [
          for role in roles : { sa = sa, place = place, role = role }
        ]
      ]
    ]) : "${g.sa}/${g.place}/${g.role}" => g
    if g.place != "automl" || var.enable_automl
  }

  bucket_places = {
    inbox   = google_storage_bucket.inbox.name
    state   = google_storage_bucket.state.name
    work    = google_storage_bucket.work.name
    results = google_storage_bucket.results.name
    source  = google_storage_bucket.source.name
  }

  secret_places = {
    slack_webhook = google_secret_manager_secret.slack_webhook.secret_id
    webhook       = google_secret_manager_secret.webhook.secret_id
  }

  sa_members = merge(
    { for name, sa in google_service_account.fn : name => sa.member },
    {
      invoker = google_service_account.invoker.member
      builder = google_service_account.builder.member
    },
  )
}

# Every place in local.sa_roles must be one of the places granted below.
check "sa_roles_places" {
  assert {
    condition = alltrue([
      for g in values(local.sa_grants) :
      contains(concat(["project", "automl", "dataset", "queue", "invoker", "events"], keys(local.bucket_places), keys(local.secret_places)), g.place)
    ])
    error_message = "local.sa_roles names a place that no IAM resource grants on."
  }
}

# --- Service accounts --------------------------------------------------------

resource "google_service_account" "fn" {
  for_each = local.functions

  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "dropcast ${each.key} function"

  depends_on = [google_project_service.api]
}

resource "google_service_account" "invoker" {
  account_id   = "${var.name_prefix}-invoker"
  display_name = "dropcast invoker (Cloud Tasks and Cloud Scheduler OIDC)"

  depends_on = [google_project_service.api]
}

resource "google_service_account" "builder" {
  account_id   = "${var.name_prefix}-builder"
  display_name = "dropcast function builds (Cloud Build)"

  depends_on = [google_project_service.api]
}

# --- Grants from local.sa_roles -----------------------------------------------

resource "google_project_iam_member" "sa" {
  for_each = { for k, g in local.sa_grants : k => g if contains(["project", "automl"], g.place) }

  project = var.project_id
  role    = each.value.role
  member  = local.sa_members[each.value.sa]
}

resource "google_storage_bucket_iam_member" "sa" {
  for_each = { for k, g in local.sa_grants : k => g if contains(keys(local.bucket_places), g.place) }

  bucket = local.bucket_places[each.value.place]
  role   = each.value.role
  member = local.sa_members[each.value.sa]
}

resource "google_bigquery_dataset_iam_member" "sa" {
  for_each = { for k, g in local.sa_grants : k => g if g.place == "dataset" }

  dataset_id = google_bigquery_dataset.main.dataset_id
  role       = each.value.role
  member     = local.sa_members[each.value.sa]
}

resource "google_cloud_tasks_queue_iam_member" "sa" {
  for_each = { for k, g in local.sa_grants : k => g if g.place == "queue" }

  name     = google_cloud_tasks_queue.steps.name
  location = var.region
  role     = each.value.role
  member   = local.sa_members[each.value.sa]
}

resource "google_service_account_iam_member" "sa" {
  for_each = { for k, g in local.sa_grants : k => g if g.place == "invoker" }

  service_account_id = google_service_account.invoker.name
  role               = each.value.role
  member             = local.sa_members[each.value.sa]
}

resource "google_pubsub_topic_iam_member" "sa" {
  for_each = { for k, g in local.sa_grants : k => g if g.place == "events" }

  topic  = google_pubsub_topic.events.name
  role   = each.value.role
  member = local.sa_members[each.value.sa]
}

resource "google_secret_manager_secret_iam_member" "sa" {
  for_each = { for k, g in local.sa_grants : k => g if contains(keys(local.secret_places), g.place) }

  secret_id = local.secret_places[each.value.place]
  role      = each.value.role
  member    = local.sa_members[each.value.sa]
}

# --- Service agents ----------------------------------------------------------

# Eventarc storage triggers: Cloud Storage publishes the object events to Pub/Sub
# as the project's GCS service agent.
data "google_storage_project_service_account" "gcs" {
  depends_on = [google_project_service.api]
}

resource "google_project_iam_member" "gcs_agent_pubsub" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = data.google_storage_project_service_account.gcs.member
}
