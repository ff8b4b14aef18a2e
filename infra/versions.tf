terraform {
  required_version = ">= 1.9"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
    # Glob patterns in archive_file's excludes ("infra/**", "**/*_test.go")
    # need 2.5: "data-source/archive_file: Add glob pattern matching support
    # to the `excludes` attribute" (2.5.0, July 31, 2024,
    # https://github.com/hashicorp/terraform-provider-archive/blob/main/CHANGELOG.md).
    # With 2.4 they match nothing and the tests and infra/ go into the zip.
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.5"
    }
    # time_sleep (main.tf) waits for IAM propagation before the functions are
    # created. 0.13.0 (March 04, 2025) and 0.13.1 (April 28, 2025) are
    # published (https://github.com/hashicorp/terraform-provider-time/blob/main/CHANGELOG.md);
    # time_sleep itself exists since 0.5.0.
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }

  # State lives in a GCS bucket created beforehand (see README.md):
  #   terraform init -backend-config="bucket=TFSTATE_BUCKET" -backend-config="prefix=dropcast"
  backend "gcs" {}
}

provider "google" {
  project        = var.project_id
  region         = var.region
  default_labels = var.labels
}
