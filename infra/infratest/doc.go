// Package infratest holds the Terraform in infra/ against the Go code it
// deploys. Check reads the code, the infrastructure and the pipeline specs,
// and reports every disagreement as a Problem:
//
//   - the code: the functions registered in init() under functions/ (calls to
//     functions.HTTP and functions.CloudEvent of the functions framework with
//     a string literal, found with go/parser), and the environment variables
//     shared/config.Config reads (its env, required and secret struct tags,
//     and the field's Go type, which every known value Terraform sets must
//     parse as);
//   - the infrastructure: every .tf file under infra/, parsed with hclsyntax and
//     evaluated symbolically. Variables of type string and resource attributes
//     evaluate to placeholders naming themselves («var.region»,
//     «google_storage_bucket.state.name»), other variables to their defaults
//     (or the overrides in World), so an environment value such as
//     "projects/«var.project_id»/locations/«var.region»/queues/«google_cloud_tasks_queue.steps.name»"
//     says which resource it points at, and for_each instances of modules and
//     IAM members are expanded the way Terraform would expand them. File
//     functions (fileset, file, filemd5, yamldecode) read the real files, with
//     string variables in their paths at their defaults, so the Cloud
//     Scheduler jobs Terraform derives from the pipeline specs' schedules are
//     expanded too;
//   - the pipeline specs the configuration uploads under DROPCAST_SPECS, read
//     independently of the Terraform: every schedule in them needs exactly
//     one Cloud Scheduler job POSTing {"pipeline", "schedule"} to
//     Expect.Trigger with the invoker's OIDC token, in the spec's time zone,
//     with retries.
//
// The grants are not copied anywhere: local.sa_roles in infra/iam.tf is their
// one table, the IAM resources must apply it exactly, and TestGrantsFollowUse
// holds it to the calls the e2e suite made under IAM enforcement
// (infra/iam-usage.json): every call granted, every grant used.
package infratest
