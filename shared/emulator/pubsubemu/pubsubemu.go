// Package pubsubemu runs the in-process Pub/Sub emulator (pstest) and the
// bridge that plays Eventarc's part locally: pstest does not deliver push
// subscriptions, so the bridge pulls a subscription and hands each message to
// a CloudEvent function, acknowledging only when the function succeeds
// (at-least-once, like Eventarc). A message becomes a
// google.cloud.pubsub.topic.v1.messagePublished event (CloudEvent), or, for a
// subscription to a bucket's Cloud Storage notifications, the
// google.cloud.storage.object.v1.* event an Eventarc Cloud Storage trigger
// delivers (StorageEvent).
//
// pstest accepts messages Pub/Sub refuses; Start adds the documented
// publish limits (limits.go). With an iamemu.Authorizer set, each Publish is
// checked for pubsub.topics.publish on its topic (iam.go).
package pubsubemu

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"github.com/cloudevents/sdk-go/v2/event"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Server is a running emulator.
type Server struct {
	srv     *pstest.Server
	front   *grpc.Server // serves srv's implementation with IAM checks (iam.go)
	addr    string       // front's address
	project string
	client  *pubsub.Client
	authz   authz
	faults  publishFaults // FailPublishes (faults.go)
}

// Start starts pstest on loopback for project.
func Start(ctx context.Context, project string) (*Server, error) {
	srv := pstest.NewServer(publishLimits())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("pubsubemu: listen: %w", err)
	}
	s := &Server{srv: srv, addr: ln.Addr().String(), project: project}
	s.front = grpc.NewServer(grpc.UnaryInterceptor(s.checkUnary))
	pubsubpb.RegisterPublisherServer(s.front, &srv.GServer)
	pubsubpb.RegisterSubscriberServer(s.front, &srv.GServer)
	pubsubpb.RegisterSchemaServiceServer(s.front, &srv.GServer)
	go s.front.Serve(ln)
	c, err := pubsub.NewClient(ctx, project,
		option.WithEndpoint(srv.Addr), option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		s.front.Stop()
		srv.Close()
		return nil, fmt.Errorf("pubsubemu: client: %w", err)
	}
	s.client = c
	return s, nil
}

// Addr is host:port, for PUBSUB_EMULATOR_HOST-style endpoints: the server
// that checks IAM when an Authorizer is set.
func (s *Server) Addr() string { return s.addr }

// Client is the emulator's own client, never IAM-checked: for setup, the
// bridges and tests.
func (s *Server) Client() *pubsub.Client { return s.client }

// CreateTopic creates topic (an ID).
func (s *Server) CreateTopic(ctx context.Context, topic string) error {
	_, err := s.client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: s.topicName(topic)})
	if err != nil {
		return fmt.Errorf("pubsubemu: create topic %s: %w", topic, err)
	}
	return nil
}

// CreateSubscription creates sub on topic with an ack deadline.
func (s *Server) CreateSubscription(ctx context.Context, topic, sub string, ackDeadline time.Duration) error {
	_, err := s.client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{
		Name: s.subName(sub), Topic: s.topicName(topic), AckDeadlineSeconds: int32(ackDeadline.Seconds()),
	})
	if err != nil {
		return fmt.Errorf("pubsubemu: create subscription %s: %w", sub, err)
	}
	return nil
}

func (s *Server) topicName(t string) string { return "projects/" + s.project + "/topics/" + t }
func (s *Server) subName(t string) string   { return "projects/" + s.project + "/subscriptions/" + t }

// Close stops the client and the server.
func (s *Server) Close() {
	s.front.Stop()
	s.client.Close()
	s.srv.Close()
}

// Handler is a CloudEvent function.
type Handler func(ctx context.Context, e event.Event) error

// Bridge delivers every message of sub to fn as a messagePublished event, as
// an Eventarc Pub/Sub trigger would, until ctx ends. A message is
// acknowledged when fn returns nil and redelivered otherwise.
func (s *Server) Bridge(ctx context.Context, sub string, fn Handler) error {
	topic, err := s.topicOf(ctx, sub)
	if err != nil {
		return err
	}
	return s.bridge(ctx, sub, func(m *pubsub.Message) (event.Event, error) {
		return CloudEvent(topic, s.subName(sub), m)
	}, fn)
}

// BridgeStorage delivers every Cloud Storage notification of sub to fn as
// the Cloud Storage event an Eventarc trigger on the bucket delivers
// (StorageEvent), until ctx ends; acknowledged as Bridge does.
func (s *Server) BridgeStorage(ctx context.Context, sub string, fn Handler) error {
	return s.bridge(ctx, sub, StorageEvent, fn)
}

// topicOf is the full name of sub's topic.
func (s *Server) topicOf(ctx context.Context, sub string) (string, error) {
	d, err := s.client.SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{Subscription: s.subName(sub)})
	if err != nil {
		return "", fmt.Errorf("pubsubemu: subscription %s: %w", sub, err)
	}
	return d.Topic, nil
}

func (s *Server) bridge(ctx context.Context, sub string, wrap func(*pubsub.Message) (event.Event, error), fn Handler) error {
	return s.client.Subscriber(sub).Receive(ctx, func(ctx context.Context, m *pubsub.Message) {
		e, err := wrap(m)
		if err == nil {
			err = fn(ctx, e)
		}
		if err != nil {
			m.Nack()
			return
		}
		m.Ack()
	})
}

// messagePublishedData is google.events.cloud.pubsub.v1.MessagePublishedData.
type messagePublishedData struct {
	Message struct {
		Data        []byte            `json:"data,omitempty"`
		Attributes  map[string]string `json:"attributes,omitempty"`
		MessageID   string            `json:"messageId"`
		PublishTime time.Time         `json:"publishTime"`
	} `json:"message"`
	Subscription string `json:"subscription"`
}

// CloudEvent wraps a Pub/Sub message of topic (projects/P/topics/T), received
// on subscription (projects/P/subscriptions/S), the way Eventarc does
// (https://cloud.google.com/eventarc/docs/cloudevents): ce-source is the
// topic's full resource name, the data a MessagePublishedData whose
// message.data is the payload in base64.
func CloudEvent(topic, subscription string, m *pubsub.Message) (event.Event, error) {
	var d messagePublishedData
	d.Message.Data, d.Message.Attributes = m.Data, m.Attributes
	d.Message.MessageID, d.Message.PublishTime = m.ID, m.PublishTime
	d.Subscription = subscription
	e := event.New()
	e.SetID(m.ID)
	e.SetType("google.cloud.pubsub.topic.v1.messagePublished")
	e.SetSource("//pubsub.googleapis.com/" + topic)
	e.SetTime(m.PublishTime)
	b, err := json.Marshal(d)
	if err != nil {
		return e, fmt.Errorf("pubsubemu: encode event: %w", err)
	}
	if err := e.SetData("application/json", b); err != nil {
		return e, fmt.Errorf("pubsubemu: set event data: %w", err)
	}
	return e, nil
}
