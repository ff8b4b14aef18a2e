package iamemu

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dropcast/dropcast/infra"
)

const queue = "projects/p/locations/l/queues/steps"

func testPlaces(automl bool) Places {
	return Places{
		Project: "p",
		Inbox:   "p-inbox", State: "p-state", Work: "p-work", Results: "p-results", Source: "p-source",
		Dataset: "ds", Queue: queue, Events: "events",
		Secrets:      map[string]string{"slack_webhook": "slack", "webhook": "hook"},
		EnableAutoML: automl,
	}
}

// has reports whether tf grants role on resource to account.
func has(tf *Terraform, account, role, resource string) bool {
	return slices.Contains(tf.Grants, Grant{Member: "serviceAccount:" + tf.Accounts[account], Role: role, Resource: resource})
}

func TestLocalTerraformReadsIAMTF(t *testing.T) {
	tf, err := LocalTerraform(testPlaces(false))
	if err != nil {
		t.Fatal(err)
	}
	// name_prefix's default, read from variables.tf.
	if got, want := tf.Accounts["ingest"], "dropcast-ingest@p.iam.gserviceaccount.com"; got != want {
		t.Errorf("ingest's email = %q, want %q", got, want)
	}
	for _, c := range []struct{ account, role, resource string }{
		{"ingest", "roles/storage.objectUser", "projects/_/buckets/p-state"},
		{"ingest", "roles/eventarc.eventReceiver", "projects/p"},
		{"ingest", "roles/cloudtasks.enqueuer", queue},
		{"ingest", "roles/iam.serviceAccountUser", "projects/p/serviceAccounts/dropcast-invoker@p.iam.gserviceaccount.com"},
		{"ingest", "roles/pubsub.publisher", "projects/p/topics/events"},
		{"load", "roles/bigquery.dataEditor", "projects/p/datasets/ds"},
		{"load", "roles/storage.objectViewer", "projects/_/buckets/p-inbox"},
		{"postprocess", "roles/storage.objectViewer", "projects/_/buckets/p-inbox"},
		{"postprocess", "roles/storage.objectUser", "projects/_/buckets/p-results"},
		{"notify", "roles/storage.objectViewer", "projects/_/buckets/p-state"},
		{"notify", "roles/storage.objectCreator", "projects/_/buckets/p-state"},
		{"notify", "roles/secretmanager.secretAccessor", "projects/p/secrets/slack"},
		{"builder", "roles/run.builder", "projects/p"},
		{"builder", "roles/storage.objectViewer", "projects/_/buckets/p-source"},
	} {
		if !has(tf, c.account, c.role, c.resource) {
			t.Errorf("%s lacks %s on %s", c.account, c.role, c.resource)
		}
	}
	if has(tf, "predict", "roles/automl.editor", "projects/p") {
		t.Error("automl place granted without EnableAutoML")
	}
	if _, ok := tf.Accounts["invoker"]; !ok {
		t.Error("the invoker account (no roles) is missing from Accounts")
	}
	if got := tf.Account(tf.Accounts["sweep"]); got != "sweep" {
		t.Errorf("Account(sweep's email) = %q", got)
	}

	tf, err = LocalTerraform(testPlaces(true))
	if err != nil {
		t.Fatal(err)
	}
	if !has(tf, "predict", "roles/automl.editor", "projects/p") || !has(tf, "sweep", "roles/automl.editor", "projects/p") {
		t.Error("automl place not granted with EnableAutoML")
	}
}

func TestReadTerraformFollowsTheHCL(t *testing.T) {
	p := testPlaces(false)
	p.NamePrefix, p.Invoker = "dc", "inv@p.iam.gserviceaccount.com"
	tf, err := ReadTerraform(infra.IAMTF, infra.VariablesTF, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := tf.Accounts["load"]; got != "dc-load@p.iam.gserviceaccount.com" {
		t.Errorf("load's email with prefix dc = %q", got)
	}
	if !has(tf, "load", "roles/iam.serviceAccountUser", "projects/p/serviceAccounts/inv@p.iam.gserviceaccount.com") {
		t.Error("Places.Invoker not used for the invoker place")
	}

	// Removing status's grant from a copy of iam.tf removes it from the result.
	edited := regexp.MustCompile(`(?s)\bstatus = \{.*?\n    \}`).ReplaceAll(infra.IAMTF, []byte("status = {}"))
	if string(edited) == string(infra.IAMTF) {
		t.Fatal("the edit did not apply: status's block in iam.tf changed shape")
	}
	tf, err = ReadTerraform(edited, infra.VariablesTF, testPlaces(false))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range tf.Grants {
		if g.Member == "serviceAccount:"+tf.Accounts["status"] {
			t.Errorf("status still holds %s on %s", g.Role, g.Resource)
		}
	}

	// A place nobody maps is an error, not a dropped grant.
	unknown := strings.Replace(string(infra.IAMTF), "status = {", "status = {\n      elsewhere = [\"roles/pubsub.publisher\"]", 1)
	if _, err := ReadTerraform([]byte(unknown), infra.VariablesTF, testPlaces(false)); err == nil || !strings.Contains(err.Error(), "elsewhere") {
		t.Errorf("unknown place: err = %v", err)
	}
	noSecrets := testPlaces(false)
	noSecrets.Secrets = nil
	if _, err := ReadTerraform(infra.IAMTF, infra.VariablesTF, noSecrets); err == nil {
		t.Error("secret places without Places.Secrets: no error")
	}
	noInbox := testPlaces(false)
	noInbox.Inbox = ""
	if _, err := ReadTerraform(infra.IAMTF, infra.VariablesTF, noInbox); err == nil {
		t.Error("no inbox bucket: no error")
	}
	if _, err := ReadTerraform([]byte("locals {\n  sa_roles = var.x\n}\n"), infra.VariablesTF, testPlaces(false)); err == nil {
		t.Error("sa_roles that is not a literal: no error")
	}
}

// The policy built from iam.tf allows the calls the issue found refused, and
// refuses what no grant gives.
func TestPolicyOfIAMTF(t *testing.T) {
	tf, err := LocalTerraform(testPlaces(false))
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy(tf.Grants)
	if err != nil {
		t.Fatal(err)
	}
	inbox, state := "projects/_/buckets/p-inbox", "projects/_/buckets/p-state"
	for _, c := range []struct {
		account, perm, res string
		want               bool
	}{
		{"load", "storage.objects.get", inbox, true},        // run.CheckSuperseded
		{"postprocess", "storage.objects.get", inbox, true}, // run.CheckSuperseded
		{"notify", "storage.objects.list", state, true},     // specs
		{"notify", "storage.objects.get", state, true},      // specs
		{"notify", "storage.objects.create", state, true},   // marker
		{"notify", "storage.objects.delete", state, false},
		{"status", "storage.objects.create", state, false},
		{"load", "storage.objects.create", inbox, false},
		{"load", "bigquery.jobs.create", "projects/p", true},
		{"trigger", "cloudtasks.tasks.create", queue, true},
		{"trigger", "cloudtasks.tasks.create", "projects/p/locations/l/queues/other", false},
	} {
		err := p.Check(tf.Accounts[c.account], c.perm, c.res)
		if got := err == nil; got != c.want {
			t.Errorf("%s %s on %s: %v, want allowed %v", c.account, c.perm, c.res, err, c.want)
		}
	}
}
