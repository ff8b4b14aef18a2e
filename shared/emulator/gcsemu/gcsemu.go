// Package gcsemu runs an in-process Cloud Storage emulator (fake-gcs-server) on
// loopback and hands out real storage clients pointed at it.
//
// fake-gcs-server checks preconditions on uploads only; a wrapping handler
// (strict.go) checks them on reads, deletes, metadata updates, compose and
// copy as Cloud Storage does, and publishes Pub/Sub notifications in the
// documented form (notify.go).
//
// With an iamemu.Authorizer set (SetAuthorizer), the wrapping handler also
// checks each request's IAM permissions as Cloud Storage does (iam.go).
//
// The Go client reads objects through the XML API, which fake-gcs-server only
// routes when the Host header is its public host; the server's public host is
// therefore set to its own listener address, and clients also use JSON reads.
package gcsemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// Server is a running emulator.
type Server struct {
	fake   *fakestorage.Server
	http   *http.Server
	url    string
	notify *notifier
	guard  *guard
}

// Notification makes the emulator publish Cloud Storage Pub/Sub notifications
// (OBJECT_FINALIZE, JSON_API_V1) for a bucket, as a bucket notification config does.
type Notification struct {
	// PubSubHost is the Pub/Sub emulator's host:port.
	PubSubHost string
	Project    string
	Topic      string
	Bucket     string
	// Identity is who publishes the notifications, sent as the bearer token
	// of each publish: in Google Cloud, the project's Cloud Storage service
	// agent (service-PROJECT_NUMBER@gs-project-accounts.iam.gserviceaccount.com),
	// which needs pubsub.topics.publish on the topic. Empty: none sent.
	Identity string
}

// Start listens on 127.0.0.1 at a free port.
func Start() (*Server, error) { return StartWithNotification(nil) }

// StartWithNotification starts the emulator publishing notifications for n (nil: none).
func StartWithNotification(n *Notification) (*Server, error) {
	// Listen first and serve the fake's handler on that listener: asking
	// for a free port and letting the fake bind it later races with other
	// processes doing the same.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gcsemu: listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	host := "127.0.0.1:" + strconv.Itoa(port)
	opts := fakestorage.Options{
		Scheme:      "http",
		Host:        "127.0.0.1",
		Port:        uint16(port),
		PublicHost:  host,
		ExternalURL: "http://" + host,
		Writer:      io.Discard,
		NoListener:  true,
	}
	fake, err := fakestorage.NewServerWithOptions(opts)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("gcsemu: start fake-gcs-server: %w", err)
	}
	owner, err := ownerToken()
	if err != nil {
		ln.Close()
		fake.Stop()
		return nil, err
	}
	g := &guard{owner: owner}
	h := &strict{fake: fake.HTTPHandler(), guard: g}
	if n != nil {
		popts := []option.ClientOption{option.WithEndpoint(n.PubSubHost), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials()))}
		if n.Identity != "" {
			popts = append(popts, option.WithGRPCDialOption(iamemu.GRPCDialOption(n.Identity)))
		}
		c, err := pubsub.NewClient(context.Background(), n.Project, popts...)
		if err != nil {
			ln.Close()
			fake.Stop()
			return nil, fmt.Errorf("gcsemu: pubsub client for notifications: %w", err)
		}
		h.notify = newNotifier(n, c)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &Server{fake: fake, http: srv, url: "http://" + host, notify: h.notify, guard: g}, nil
}

// ownerToken is a bearer token no one else sends: the server's own clients'.
func ownerToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("gcsemu: owner token: %w", err)
	}
	return "gcsemu-owner-" + hex.EncodeToString(b), nil
}

// SetAuthorizer makes the emulator check every request's IAM permissions
// with a (nil: no checks, the default). Requests of the clients Client
// returns are never checked.
func (s *Server) SetAuthorizer(a iamemu.Authorizer) {
	s.guard.mu.Lock()
	defer s.guard.mu.Unlock()
	s.guard.authz = a
}

// URL is the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// Endpoint is the value for option.WithEndpoint and DROPCAST_STORAGE_ENDPOINT.
func (s *Server) Endpoint() string { return s.url + "/storage/v1/" }

// CreateBucket creates a bucket (with versioning off), ignoring one that exists.
func (s *Server) CreateBucket(name string) {
	s.fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
}

// Client returns a real storage client pointed at the emulator, as its
// owner: its requests are never IAM-checked. It is for provisioning, for
// tests' own reads and writes, and for other emulators acting as Google
// services (which check the caller's permissions themselves).
func (s *Server) Client(ctx context.Context) (*storage.Client, error) {
	return s.ClientAs(ctx, s.guard.owner)
}

// ClientAs returns a real storage client that calls the emulator as
// identity (its bearer token), checked when an Authorizer is set.
func (s *Server) ClientAs(ctx context.Context, identity string) (*storage.Client, error) {
	opts := append(iamemu.ClientOptions(identity), option.WithEndpoint(s.Endpoint()), storage.WithJSONReads())
	c, err := storage.NewClient(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("gcsemu: storage.NewClient: %w", err)
	}
	return c, nil
}

// NewClient returns a storage client for an emulator endpoint.
func NewClient(ctx context.Context, endpoint string) (*storage.Client, error) {
	c, err := storage.NewClient(ctx, option.WithEndpoint(endpoint), option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		return nil, fmt.Errorf("gcsemu: storage.NewClient: %w", err)
	}
	return c, nil
}

// Close stops the server.
func (s *Server) Close() {
	s.http.Close()
	s.fake.Stop()
	if s.notify != nil {
		s.notify.close()
	}
}
