package iamemu

import (
	"slices"
	"strings"
	"testing"
)

func TestRoleTableParses(t *testing.T) {
	table, err := Roles()
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range table {
		if !strings.HasPrefix(r.Source, "https://cloud.google.com/iam/docs/roles-permissions/") {
			t.Errorf("%s: source %q is not a page of Google's roles-and-permissions reference", name, r.Source)
		}
		if !slices.IsSorted(r.Permissions) {
			t.Errorf("%s: permissions not sorted", name)
		}
	}
	// A few permissions the emulators check, as the reference lists them.
	for _, c := range []struct {
		role, perm string
		want       bool
	}{
		{"roles/storage.objectViewer", "storage.objects.get", true},
		{"roles/storage.objectViewer", "storage.objects.list", true},
		{"roles/storage.objectViewer", "storage.objects.create", false},
		{"roles/storage.objectCreator", "storage.objects.create", true},
		{"roles/storage.objectCreator", "storage.objects.delete", false},
		{"roles/storage.objectAdmin", "storage.objects.delete", true},
		{"roles/storage.legacyBucketReader", "storage.buckets.get", true},
		{"roles/cloudtasks.enqueuer", "cloudtasks.tasks.create", true},
		{"roles/cloudtasks.enqueuer", "cloudtasks.tasks.delete", false},
		{"roles/iam.serviceAccountUser", "iam.serviceAccounts.actAs", true},
		{"roles/pubsub.publisher", "pubsub.topics.publish", true},
		{"roles/bigquery.jobUser", "bigquery.jobs.create", true},
		{"roles/bigquery.jobUser", "bigquery.tables.getData", false},
		{"roles/bigquery.dataEditor", "bigquery.tables.updateData", true},
		{"roles/bigquery.dataViewer", "bigquery.tables.getData", true},
		{"roles/bigquery.dataViewer", "bigquery.tables.updateData", false},
		{"roles/aiplatform.user", "aiplatform.batchPredictionJobs.create", true},
		{"roles/aiplatform.user", "aiplatform.endpoints.predict", true},
		{"roles/automl.editor", "automl.models.predict", true},
		{"roles/secretmanager.secretAccessor", "secretmanager.versions.access", true},
		{"roles/eventarc.eventReceiver", "eventarc.events.receiveEvent", true},
		{"roles/run.invoker", "run.routes.invoke", true},
		{"roles/run.builder", "storage.objects.get", true},
	} {
		r, ok := table[c.role]
		if !ok {
			t.Errorf("%s is not in the table", c.role)
			continue
		}
		if got := slices.Contains(r.Permissions, c.perm); got != c.want {
			t.Errorf("%s contains %s = %v, want %v", c.role, c.perm, got, c.want)
		}
	}
}

// Every role infra/iam.tf grants, read from the HCL, is in the table.
func TestRoleTableHasEveryGrantedRole(t *testing.T) {
	table, err := Roles()
	if err != nil {
		t.Fatal(err)
	}
	tf, err := LocalTerraform(testPlaces(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(tf.Grants) == 0 {
		t.Fatal("no grants read from infra/iam.tf")
	}
	for _, g := range tf.Grants {
		if _, ok := table[g.Role]; !ok {
			t.Errorf("%s holds %s on %s: not in roles.json", tf.Account(strings.TrimPrefix(g.Member, "serviceAccount:")), g.Role, g.Resource)
		}
	}
	// run.invoker is granted in infra/main.tf, not through local.sa_roles.
	if _, ok := table["roles/run.invoker"]; !ok {
		t.Error("roles/run.invoker is not in roles.json")
	}
}

func TestParseRolesRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"no source":      `{"roles":[{"name":"roles/x.y","permissions":["x.a.get"]}]}`,
		"no permissions": `{"roles":[{"name":"roles/x.y","source":"s"}]}`,
		"bad name":       `{"roles":[{"name":"x.y","source":"s","permissions":["x.a.get"]}]}`,
		"wildcard":       `{"roles":[{"name":"roles/x.y","source":"s","permissions":["x.a.*"]}]}`,
		"twice":          `{"roles":[{"name":"roles/x.y","source":"s","permissions":["x.a.get"]},{"name":"roles/x.y","source":"s","permissions":["x.a.get"]}]}`,
		"not json":       `{`,
	} {
		if _, err := parseRoles([]byte(doc)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}
