package bqemu

import (
	"net/http"
	"strings"
	"sync"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// IAM in the emulator: with an Authorizer set (SetAuthorizer), every request
// is checked for the identity its bearer token names
// (iamemu.IdentityFromHTTP), on the project (projects/P) or the dataset
// (projects/P/datasets/D) the method touches. A refusal is answered as
// BigQuery answers it: HTTP 403 with reason accessDenied ("accessDenied |
// 403 | This error returns when you try to access a resource such as a
// dataset, table, view, or job that you don't have access to.",
// https://cloud.google.com/bigquery/docs/error-messages), its message
// naming the permission.
//
// Method → permission:
//
//   - datasets.insert → bigquery.datasets.create on the project;
//     datasets.get → bigquery.datasets.get, datasets.delete →
//     bigquery.datasets.delete, tables.list → bigquery.tables.list,
//     tables.insert → bigquery.tables.create, tables.get →
//     bigquery.tables.get, tables.patch and tables.update →
//     bigquery.tables.update, tables.delete → bigquery.tables.delete,
//     tabledata.list → bigquery.tables.getData, each on the dataset. These
//     follow the permission names of
//     https://cloud.google.com/bigquery/docs/access-control (the stored
//     copies consulted show the page's opening, not its per-permission
//     descriptions); no per-method table was found to quote.
//     datasets.list is not checked (BigQuery lists the datasets the caller
//     may see; no production code lists datasets).
//   - jobs.insert and jobs.query → bigquery.jobs.create on the project: "At
//     a minimum, to run a job, you must have bigquery.jobs.create
//     permissions." (https://cloud.google.com/bigquery/docs/jobs-overview).
//   - A load job also needs, on the destination's dataset, the permissions
//     "To load data into a new BigQuery table or partition or to append or
//     overwrite an existing table or partition": bigquery.tables.create,
//     bigquery.tables.updateData, bigquery.tables.update (with
//     bigquery.jobs.create), and, on each source bucket,
//     loadSourcePermissions
//     (https://cloud.google.com/bigquery/docs/loading-data-cloud-storage-csv,
//     "Required permissions"; list read from the page's translated stored
//     copies).
//   - A query job needs bigquery.tables.getData on the table it reads
//     (https://cloud.google.com/bigquery/docs/running-queries, "Required
//     permissions"; not quoted verbatim here: the stored copies did not
//     show that section).
//   - jobs.get and jobs.getQueryResults → bigquery.jobs.get on the project,
//     jobs.cancel → bigquery.jobs.update, except for the caller's own jobs:
//     "To view job details, you need the bigquery.jobs.get IAM permission.
//     You are automatically granted this permission for the jobs that you
//     create." (https://cloud.google.com/bigquery/docs/managing-jobs).
//
// When checks happen, where the documents do not say: the BigQuery
// permissions of a request at the request (403 answered to jobs.insert);
// a load's Cloud Storage permissions and a query's table permission when
// the job runs (the job fails with accessDenied), as those are the job's
// reads.

// loadSourcePermissions are what a load needs on each source bucket:
// "storage.buckets.get", "storage.objects.get", and "storage.objects.list
// (required if you are using a URI wildcard)" (the list as
// https://cloud.google.com/bigquery/docs/external-data-cloud-storage gives
// it for reading Cloud Storage, in its stored zh-CN copy: "storage.buckets.get
// storage.objects.get storage.objects.list(如果您使用的是 URI 通配符,则为必需)";
// the loading page's "Permissions to load data from Cloud Storage" is
// expected to list the same, which its stored copies did not show).
var loadSourcePermissions = []string{"storage.buckets.get", "storage.objects.get"}

// authz holds the Authorizer (nil: no checks).
type authz struct {
	mu sync.RWMutex
	a  iamemu.Authorizer
}

// SetAuthorizer makes the emulator check every request's IAM permissions
// with a (nil: no checks, the default).
func (s *Server) SetAuthorizer(a iamemu.Authorizer) {
	s.authz.mu.Lock()
	defer s.authz.mu.Unlock()
	s.authz.a = a
}

// check asks the Authorizer, if any; a refusal is a 403 accessDenied.
func (s *Server) check(identity, permission, resource string) error {
	s.authz.mu.RLock()
	a := s.authz.a
	s.authz.mu.RUnlock()
	if a == nil {
		return nil
	}
	if err := a.Check(identity, permission, resource); err != nil {
		return newAPIError(http.StatusForbidden, "accessDenied", "Access Denied: %s", err.Error())
	}
	return nil
}

func projectResource(p string) string    { return "projects/" + p }
func datasetResource(p, d string) string { return "projects/" + p + "/datasets/" + d }

// guard checks permission on the request's project, or on its dataset when
// the route has one, before h runs.
func (s *Server) guard(permission string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		res := projectResource(r.PathValue("project"))
		if d := r.PathValue("dataset"); d != "" {
			res = datasetResource(r.PathValue("project"), d)
		}
		if err := s.check(iamemu.IdentityFromHTTP(r), permission, res); err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r)
	}
}

// checkJobAccess lets the job's creator at it, and others with permission
// on the job's project.
func (s *Server) checkJobAccess(r *http.Request, j *job, permission string) error {
	id := iamemu.IdentityFromHTTP(r)
	if id != "" && id == j.identity {
		return nil
	}
	return s.check(id, permission, projectResource(j.project))
}

// checkLoadSources checks a load job's Cloud Storage permissions, as its
// creator, on every source bucket.
func (s *Server) checkLoadSources(j *job) error {
	for _, uri := range j.config.Load.SourceUris {
		bucket, object, _ := strings.Cut(strings.TrimPrefix(uri, "gs://"), "/")
		perms := loadSourcePermissions
		if strings.Contains(object, "*") {
			perms = append(perms[:len(perms):len(perms)], "storage.objects.list")
		}
		for _, p := range perms {
			if err := s.check(j.identity, p, "projects/_/buckets/"+bucket); err != nil {
				return err
			}
		}
	}
	return nil
}
