package iamemu

import (
	"errors"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	alice = "alice@p.iam.gserviceaccount.com"
	bob   = "bob@p.iam.gserviceaccount.com"
)

func testPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := NewPolicy([]Grant{
		{Member: "serviceAccount:" + alice, Role: "roles/bigquery.jobUser", Resource: "projects/p"},
		{Member: "serviceAccount:" + alice, Role: "roles/storage.objectAdmin", Resource: "projects/_/buckets/a"},
		{Member: "serviceAccount:" + bob, Role: "roles/storage.objectViewer", Resource: "projects/p"},
		{Member: bob, Role: "roles/pubsub.publisher", Resource: "projects/p/topics/events"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyAllowsAndRefuses(t *testing.T) {
	p := testPolicy(t)
	for _, c := range []struct {
		who, perm, res string
		want           bool
	}{
		{alice, "bigquery.jobs.create", "projects/p", true},                 // project grant
		{alice, "storage.objects.create", "projects/_/buckets/a", true},     // bucket grant
		{alice, "storage.objects.delete", "projects/_/buckets/a/o/x", true}, // under the bucket
		{alice, "storage.objects.create", "projects/_/buckets/b", false},    // another bucket
		{alice, "storage.objects.create", "projects/_/buckets/ab", false},   // a name that only starts alike
		{alice, "bigquery.jobs.create", "projects/q", false},                // another project
		{alice, "bigquery.tables.getData", "projects/p/datasets/d", false},  // not in jobUser
		{bob, "storage.objects.get", "projects/_/buckets/b", true},          // project grant holds on buckets
		{bob, "storage.objects.create", "projects/_/buckets/b", false},      // not in objectViewer
		{bob, "pubsub.topics.publish", "projects/p/topics/events", true},    // bare-email member
		{bob, "pubsub.topics.publish", "projects/p/topics/other", false},
		{bob, "bigquery.jobs.create", "projects/p", false}, // another identity's grant
		{"", "storage.objects.get", "projects/_/buckets/b", false},
	} {
		err := p.Check(c.who, c.perm, c.res)
		if got := err == nil; got != c.want {
			t.Errorf("Check(%q, %s, %s) = %v, want allowed %v", c.who, c.perm, c.res, err, c.want)
			continue
		}
		if err != nil {
			var d *Denied
			if !errors.As(err, &d) || d.Identity != c.who || d.Permission != c.perm || d.Resource != c.res {
				t.Errorf("Check(%q, %s, %s) = %#v, want a *Denied naming them", c.who, c.perm, c.res, err)
			}
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("gRPC code of %v = %v", err, status.Code(err))
			}
		}
	}
}

func TestPolicyRecordsUse(t *testing.T) {
	p := testPolicy(t)
	p.Check(alice, "storage.objects.get", "projects/_/buckets/a")
	p.Check(alice, "storage.objects.get", "projects/_/buckets/a") // deduplicated
	p.Check(alice, "storage.objects.get", "projects/_/buckets/b")
	p.Check(bob, "storage.objects.get", "projects/_/buckets/a")

	wantUsage := []Use{
		{Identity: alice, Permission: "storage.objects.get", Resource: "projects/_/buckets/a", Allowed: true},
		{Identity: alice, Permission: "storage.objects.get", Resource: "projects/_/buckets/b", Allowed: false},
		{Identity: bob, Permission: "storage.objects.get", Resource: "projects/_/buckets/a", Allowed: true},
	}
	if got := p.Usage(); !reflect.DeepEqual(got, wantUsage) {
		t.Errorf("Usage() = %+v\nwant %+v", got, wantUsage)
	}
	wantUsed := []GrantUse{
		{Use: wantUsage[0], Grants: []Grant{{Member: "serviceAccount:" + alice, Role: "roles/storage.objectAdmin", Resource: "projects/_/buckets/a"}}},
		{Use: wantUsage[2], Grants: []Grant{{Member: "serviceAccount:" + bob, Role: "roles/storage.objectViewer", Resource: "projects/p"}}},
	}
	if got := p.GrantsUsed(); !reflect.DeepEqual(got, wantUsed) {
		t.Errorf("GrantsUsed() = %+v\nwant %+v", got, wantUsed)
	}
	wantUnused := []Grant{
		{Member: "serviceAccount:" + alice, Role: "roles/bigquery.jobUser", Resource: "projects/p"},
		{Member: bob, Role: "roles/pubsub.publisher", Resource: "projects/p/topics/events"},
	}
	if got := p.UnusedGrants(); !reflect.DeepEqual(got, wantUnused) {
		t.Errorf("UnusedGrants() = %+v\nwant %+v", got, wantUnused)
	}
	p.Reset()
	if got := p.Usage(); len(got) != 0 {
		t.Errorf("Usage() after Reset = %+v", got)
	}
}

func TestNewPolicyRejects(t *testing.T) {
	for name, g := range map[string]Grant{
		"unknown role": {Member: alice, Role: "roles/owner", Resource: "projects/p"},
		"no member":    {Role: "roles/pubsub.publisher", Resource: "projects/p"},
		"bad resource": {Member: alice, Role: "roles/pubsub.publisher", Resource: "events"},
	} {
		if _, err := NewPolicy([]Grant{g}); err == nil {
			t.Errorf("%s: NewPolicy accepted %+v", name, g)
		}
	}
}

// With grants naming several projects, a bucket belongs to none of them.
func TestPolicyBucketsNeedOneProject(t *testing.T) {
	p, err := NewPolicy([]Grant{
		{Member: alice, Role: "roles/storage.objectViewer", Resource: "projects/p"},
		{Member: alice, Role: "roles/pubsub.publisher", Resource: "projects/q/topics/t"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(alice, "storage.objects.get", "projects/_/buckets/b"); err == nil {
		t.Error("a project grant held on a bucket although the policy names two projects")
	}
}
