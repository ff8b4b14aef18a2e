package pubsubemu

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// recorder is an Authorizer that records every check and refuses the
// identities in deny.
type recorder struct {
	mu    sync.Mutex
	calls []string
	deny  map[string]bool
}

func (a *recorder) Check(identity, permission, resource string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, identity+" "+permission+" "+resource)
	if a.deny[identity] {
		return &iamemu.Denied{Identity: identity, Permission: permission, Resource: resource}
	}
	return nil
}

func TestPublishIsChecked(t *testing.T) {
	const (
		notify = "notify@p.iam.gserviceaccount.com"
		other  = "load@p.iam.gserviceaccount.com"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateTopic(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	a := &recorder{deny: map[string]bool{other: true}}
	s.SetAuthorizer(a)
	client := func(id string) *pubsub.Client {
		c, err := pubsub.NewClient(ctx, "p", option.WithEndpoint(s.Addr()), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())),
			option.WithGRPCDialOption(iamemu.GRPCDialOption(id)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	publish := func(c *pubsub.Client) error {
		p := c.Publisher("events")
		defer p.Stop()
		_, err := p.Publish(ctx, &pubsub.Message{Data: []byte("x")}).Get(ctx)
		return err
	}

	if err := publish(client(notify)); err != nil {
		t.Fatalf("allowed publish: %v", err)
	}
	err = publish(client(other))
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "pubsub.topics.publish") {
		t.Fatalf("refused publish: got %v, want PERMISSION_DENIED naming pubsub.topics.publish", err)
	}
	a.mu.Lock()
	got := a.calls
	a.mu.Unlock()
	want := []string{
		notify + " pubsub.topics.publish projects/p/topics/events",
		other + " pubsub.topics.publish projects/p/topics/events",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("checks %q, want %q", got, want)
	}
	if n := len(s.srv.Messages()); n != 1 {
		t.Fatalf("%d messages stored, want only the allowed one", n)
	}

	// The emulator's own client (setup, bridges) is not checked.
	if err := publish(s.Client()); err != nil {
		t.Fatalf("own client's publish: %v", err)
	}
	a.mu.Lock()
	n := len(a.calls)
	a.mu.Unlock()
	if n != 2 {
		t.Fatalf("own client's publish was checked: %d checks", n)
	}
}
