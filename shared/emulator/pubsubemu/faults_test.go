package pubsubemu

import (
	"context"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func TestFailPublishes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, topic := range []string{"events", "other"} {
		if err := s.CreateTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
	}
	c, err := pubsub.NewClient(ctx, "p", option.WithEndpoint(s.Addr()), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	publish := func(topic string) error {
		p := c.Publisher(topic)
		defer p.Stop()
		_, err := p.Publish(ctx, &pubsub.Message{Data: []byte("x")}).Get(ctx)
		return err
	}
	s.FailPublishes("events", 2, codes.NotFound) // not retried by the client
	if err := publish("other"); err != nil {
		t.Fatalf("another topic's publish failed: %v", err)
	}
	for i := range 2 {
		if err := publish("events"); status.Code(err) != codes.NotFound {
			t.Fatalf("publish %d: %v, want NotFound", i, err)
		}
	}
	if err := publish("events"); err != nil {
		t.Fatalf("publish after the failures: %v", err)
	}
	// A transient code is retried by the client: the publish succeeds.
	s.FailPublishes("events", 2, codes.Unavailable)
	if err := publish("events"); err != nil {
		t.Fatalf("publish through 2 transient failures: %v", err)
	}
	if n := s.FailedPublishes(); n != 4 {
		t.Fatalf("FailedPublishes = %d, want 4", n)
	}
}
