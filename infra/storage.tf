# Buckets (regional, in var.region: the Eventarc storage trigger and BigQuery
# loads need the bucket in the trigger's and dataset's location) and the
# BigQuery dataset. Every bucket: uniform bucket-level access, public access
# prevention enforced.

locals {
  bucket_base = "${var.project_id}-${var.name_prefix}"
}

# Uploads land here (incoming/YYYYMMDD-HHMMSS.csv); ingest fires on each.
resource "google_storage_bucket" "inbox" {
  name                        = "${local.bucket_base}-inbox"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  dynamic "lifecycle_rule" {
    for_each = var.inbox_retention_days > 0 ? [var.inbox_retention_days] : []
    content {
      condition {
        age = lifecycle_rule.value
      }
      action {
        type = "Delete"
      }
    }
  }

  depends_on = [google_project_service.api]
}

# Run records (runs/RUN.json, updated with compare-and-swap) and pipeline specs (specs/).
resource "google_storage_bucket" "state" {
  name                        = "${local.bucket_base}-state"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  depends_on = [google_project_service.api]
}

# Clean parts, rejects and prediction outputs: intermediate, deleted after var.work_retention_days.
resource "google_storage_bucket" "work" {
  name                        = "${local.bucket_base}-work"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  lifecycle_rule {
    condition {
      age = var.work_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

# Results CSVs, the pipeline's output.
resource "google_storage_bucket" "results" {
  name                        = "${local.bucket_base}-results"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = var.force_destroy

  # Postprocess writes result parts under _dropcast/ and composes them into the
  # results CSV; parts an interrupted run leaves behind expire after a day.
  lifecycle_rule {
    condition {
      age            = 1
      matches_prefix = ["_dropcast/"]
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.api]
}

# Source archives the functions are built from. Only the build service account reads it.
resource "google_storage_bucket" "source" {
  name                        = "${local.bucket_base}-source"
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = true # only rebuildable archives

  depends_on = [google_project_service.api]
}

# Loaded tables and result tables. Pipeline specs name tables in this dataset
# (destination.table, results.table): the functions may write nowhere else.
resource "google_bigquery_dataset" "main" {
  dataset_id                 = replace(var.name_prefix, "-", "_")
  location                   = var.region
  description                = "dropcast: loaded CSVs and prediction results."
  delete_contents_on_destroy = var.force_destroy

  depends_on = [google_project_service.api]
}
