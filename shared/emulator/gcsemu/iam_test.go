package gcsemu

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
	"github.com/dropcast/dropcast/shared/emulator/pubsubemu"
)

// recorder is an Authorizer that records every check and refuses the
// permissions (or "identity permission" pairs) in deny.
type recorder struct {
	mu    sync.Mutex
	calls []string // "identity permission resource"
	deny  map[string]bool
}

func (a *recorder) Check(identity, permission, resource string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, identity+" "+permission+" "+resource)
	if a.deny[permission] || a.deny[identity+" "+permission] {
		return &iamemu.Denied{Identity: identity, Permission: permission, Resource: resource}
	}
	return nil
}

// take returns the checks recorded since the last take.
func (a *recorder) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

func wantChecks(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	slices.Sort(got)
	got = slices.Compact(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s: checks\n%q\nwant\n%q", what, got, want)
	}
}

// wantDenied fails unless err is Cloud Storage's 403 naming permission.
func wantDenied(t *testing.T, what string, err error, permission string) {
	t.Helper()
	var g *googleapi.Error
	if !errors.As(err, &g) || g.Code != http.StatusForbidden {
		t.Fatalf("%s: got %v, want HTTP 403", what, err)
	}
	if len(g.Errors) == 0 || g.Errors[0].Reason != "forbidden" {
		t.Errorf("%s: errors %+v, want reason forbidden", what, g.Errors)
	}
	if !strings.Contains(g.Message, permission) {
		t.Errorf("%s: message %q does not name %s", what, g.Message, permission)
	}
}

func TestIAMChecksEveryCall(t *testing.T) {
	const (
		fn     = "load@p.iam.gserviceaccount.com"
		reader = "reader@p.iam.gserviceaccount.com"
		bucket = "projects/_/buckets/work"
		inbox  = "projects/_/buckets/inbox"
	)
	s, owner := start(t, "work", "inbox")
	ctx := context.Background()
	if _, err := put(t, owner.Bucket("inbox").Object("in.csv"), "a,b\n", 0); err != nil {
		t.Fatal(err)
	}
	a := &recorder{deny: map[string]bool{reader + " storage.objects.get": true, fn + " storage.objects.delete": true}}
	s.SetAuthorizer(a)
	c, err := s.ClientAs(ctx, fn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := c.Bucket("work")

	// objects.insert of a new object: create only (multipart, then resumable).
	if _, err := put(t, b.Object("x"), "hello", 0); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "insert", a.take(), fn+" storage.objects.create "+bucket)
	if _, err := put(t, b.Object("y"), strings.Repeat("z", 300<<10), 256<<10); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "resumable insert", a.take(), fn+" storage.objects.create "+bucket)

	// Replacing an existing object also needs storage.objects.delete, which
	// fn lacks; a does-not-exist precondition rules replacing out.
	_, err = put(t, b.Object("x"), "again", 0)
	wantDenied(t, "overwrite", err, "storage.objects.delete")
	wantChecks(t, "overwrite", a.take(), fn+" storage.objects.create "+bucket, fn+" storage.objects.delete "+bucket)
	w := b.Object("x").If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	io.WriteString(w, "again")
	var g *googleapi.Error
	if err := w.Close(); !errors.As(err, &g) || g.Code != http.StatusPreconditionFailed {
		t.Fatalf("create-if-absent of an existing object: got %v, want 412", err)
	}
	wantChecks(t, "create-if-absent", a.take(), fn+" storage.objects.create "+bucket)

	// objects.get (metadata and media), objects.list, objects.patch.
	if _, err := b.Object("x").Attrs(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := b.Object("x").NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := io.ReadAll(r); string(data) != "hello" {
		t.Fatalf("read %q", data)
	}
	r.Close()
	wantChecks(t, "get", a.take(), fn+" storage.objects.get "+bucket)
	it := b.Objects(ctx, nil)
	for {
		if _, err := it.Next(); errors.Is(err, iterator.Done) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	wantChecks(t, "list", a.take(), fn+" storage.objects.list "+bucket)
	if _, err := b.Object("x").Update(ctx, storage.ObjectAttrsToUpdate{Metadata: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "patch", a.take(), fn+" storage.objects.update "+bucket)

	// compose and copy into new objects; reading the inbox bucket.
	if _, err := b.Object("xy").ComposerFrom(b.Object("x"), b.Object("y")).Run(ctx); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "compose", a.take(), fn+" storage.objects.create "+bucket, fn+" storage.objects.get "+bucket)
	if _, err := b.Object("copy").CopierFrom(c.Bucket("inbox").Object("in.csv")).Run(ctx); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "copy", a.take(), fn+" storage.objects.create "+bucket, fn+" storage.objects.get "+inbox)

	// bucket get; objects.delete (refused: fn lacks it).
	if _, err := b.Attrs(ctx); err != nil {
		t.Fatal(err)
	}
	wantChecks(t, "bucket get", a.take(), fn+" storage.buckets.get "+bucket)
	wantDenied(t, "delete", b.Object("x").Delete(ctx), "storage.objects.delete")
	wantChecks(t, "delete", a.take(), fn+" storage.objects.delete "+bucket)

	// Another identity refused storage.objects.get on the inbox.
	rc, err := s.ClientAs(ctx, reader)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = rc.Bucket("inbox").Object("in.csv").Attrs(ctx)
	wantDenied(t, "reader attrs", err, "storage.objects.get")
	wantChecks(t, "reader attrs", a.take(), reader+" storage.objects.get "+inbox)

	// The owner's client is never checked; an anonymous one gets 401.
	if _, err := owner.Bucket("work").Object("x").Attrs(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.take(); len(got) != 0 {
		t.Errorf("owner's request was checked: %q", got)
	}
	anon, err := NewClient(ctx, s.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	a.deny[" storage.objects.get"] = true
	_, err = anon.Bucket("work").Object("x").Attrs(ctx)
	if !errors.As(err, &g) || g.Code != http.StatusUnauthorized || len(g.Errors) == 0 || g.Errors[0].Reason != "required" {
		t.Errorf("anonymous attrs: got %v, want 401 required", err)
	}

	// With the Authorizer removed, nothing is checked.
	s.SetAuthorizer(nil)
	if err := b.Object("x").Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.take(); len(got) != 1 { // the anonymous read above
		t.Errorf("checks after SetAuthorizer(nil): %q", got)
	}
}

// Notifications are published as Notification.Identity (the Cloud Storage
// service agent), which the Pub/Sub emulator checks.
func TestNotificationsPublishAsTheServiceAgent(t *testing.T) {
	const agent = "service-1@gs-project-accounts.iam.gserviceaccount.com"
	ctx := context.Background()
	ps, err := pubsubemu.Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.CreateTopic(ctx, "inbox"); err != nil {
		t.Fatal(err)
	}
	a := &recorder{}
	ps.SetAuthorizer(a)
	s, err := StartWithNotification(&Notification{PubSubHost: ps.Addr(), Project: "p", Topic: "inbox", Bucket: "in", Identity: agent})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.CreateBucket("in")
	c, err := s.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := put(t, c.Bucket("in").Object("f.csv"), "x", 0); err != nil {
		t.Fatal(err)
	}
	// The notification is published after the upload's answer: wait for it.
	var got []string
	for deadline := time.Now().Add(5 * time.Second); len(got) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		got = a.take()
	}
	wantChecks(t, "publish", got, agent+" pubsub.topics.publish projects/p/topics/inbox")
}
