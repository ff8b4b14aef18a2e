// Package infratest holds the Terraform in infra/ against the Go code it
// deploys. Check reads two sides and reports every disagreement as a Problem:
//
//   - the code: the functions registered in init() under functions/ (calls to
//     functions.HTTP and functions.CloudEvent of the functions framework with
//     a string literal, found with go/parser), and the environment variables
//     shared/config.Config reads (its env, required and secret struct tags);
//   - the infrastructure: every .tf file under infra/, parsed with hclsyntax and
//     evaluated symbolically. Variables of type string and resource attributes
//     evaluate to placeholders naming themselves («var.region»,
//     «google_storage_bucket.state.name»), other variables to their defaults
//     (or the overrides in World), so an environment value such as
//     "projects/«var.project_id»/locations/«var.region»/queues/«google_cloud_tasks_queue.steps.name»"
//     says which resource it points at, and for_each instances of modules and
//     IAM members are expanded the way Terraform would expand them.
//
// The expected service account roles are not derived from anything: they are
// the table the caller passes in Expect, so a change to the grants in
// infra/iam.tf must be made twice, once in each place, and reviewed.
package infratest
