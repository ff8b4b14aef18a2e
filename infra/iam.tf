# Service accounts and every role they hold. One account per function, plus
#   invoker: the identity in the OIDC tokens Cloud Tasks and Cloud Scheduler
#            send; the only principal with run.invoker on the HTTP steps;
#   builder: the identity Cloud Build builds the functions as.
# local.sa_roles is the single list of grants. The local stack reads it too
# (infra/iam.go embeds this file; shared/emulator/iamemu builds its policy from
# it), so every emulator refuses a call that these grants do not allow, with
# the permissions of each role as Google's predefined-roles reference lists
# them (shared/emulator/iamemu/roles.json). Every grant is justified by the
# calls the e2e suite made (infra/iam-usage.json, TestGrantsFollowUse): the
# state bucket takes roles/storage.objectUser (objects only, no IAM or ACL
# control), run records being created, replaced and their markers deleted.

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
      state   = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    preprocess = {
      inbox   = ["roles/storage.objectViewer"]
      state   = ["roles/storage.objectUser"]
      work    = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    # inbox: run.CheckSuperseded reads the source object's metadata
    # (storage.objects.get) before the partition is written. work: the load
    # job reads the clean parts as its creator, which needs storage.buckets.get
    # too (legacyBucketReader) besides objects.get and objects.list.
    load = {
      project = ["roles/bigquery.jobUser"]
      dataset = ["roles/bigquery.dataEditor"]
      inbox   = ["roles/storage.objectViewer"]
      work    = ["roles/storage.objectViewer", "roles/storage.legacyBucketReader"]
      state   = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    predict = {
      project = ["roles/aiplatform.user"]
      automl  = ["roles/automl.editor"]
      work    = ["roles/storage.objectUser"]
      state   = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    # inbox: run.CheckSuperseded reads the source object's metadata
    # (storage.objects.get) before the results are written. results: the
    # results table's load job reads the result parts as its creator
    # (storage.buckets.get besides the objects).
    postprocess = {
      project = ["roles/bigquery.jobUser"]
      dataset = ["roles/bigquery.dataEditor"]
      inbox   = ["roles/storage.objectViewer"]
      work    = ["roles/storage.objectViewer"]
      results = ["roles/storage.objectUser", "roles/storage.legacyBucketReader"]
      state   = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    # Reads the schedule's table or query (jobs in this project; tables in the
    # dataset: grant dataViewer elsewhere yourself for queries that read other
    # datasets) and writes the clean parts (objectUser, not objectCreator: a
    # retried segment rewrites its part, which needs storage.objects.delete).
    export = {
      project = ["roles/bigquery.jobUser"]
      dataset = ["roles/bigquery.dataViewer"]
      work    = ["roles/storage.objectUser"]
      state   = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    # Creates the run record (state also holds the specs it reads) and
    # enqueues the first step.
    trigger = {
      state   = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer"]
      invoker = ["roles/iam.serviceAccountUser"]
      events  = ["roles/pubsub.publisher"]
    }
    # state: reads the pipeline specs (storage.objects.list and get, through
    # spec.Source) and creates one marker per announced event
    # (functions/notify/marker.go: a write with ifGenerationMatch=0, so
    # storage.objects.create only; notify never deletes or overwrites one).
    # objectCreator gives create without delete. Google's objects.insert page
    # says that a caller inserting over an existing name "must also have the
    # storage.objects.delete permission to overwrite the existing object"; it
    # does not say whether a write refused by ifGenerationMatch=0 (412) checks
    # that first. Should a duplicate event get 403 instead of 412, the marker
    # needs roles/storage.objectUser here.
    # No roles/eventarc.eventReceiver: its Eventarc trigger routes direct
    # Pub/Sub events, which do not need it (Eventarc, roles and permissions
    # for Cloud Run functions targets).
    notify = {
      state         = ["roles/storage.objectViewer", "roles/storage.objectCreator"]
      slack_webhook = ["roles/secretmanager.secretAccessor"]
      webhook       = ["roles/secretmanager.secretAccessor"]
    }
    # inbox: lists it for files whose event was lost (storage.objects.list
    # only, which legacyBucketReader gives without reading the data).
    # queue: before re-driving a run that looks stalled, looks up the task
    # it waits for (cloudtasks.tasks.get, roles/cloudtasks.viewer): a task
    # still in the queue is a backlog, not a stall.
    sweep = {
      project = ["roles/aiplatform.user"]
      automl  = ["roles/automl.editor"]
      inbox   = ["roles/storage.legacyBucketReader"]
      state   = ["roles/storage.objectUser"]
      queue   = ["roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"]
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
