// Package gcsemu runs an in-process Cloud Storage emulator (fake-gcs-server) on
// loopback and hands out real storage clients pointed at it.
//
// fake-gcs-server checks preconditions on uploads only; a wrapping handler
// (strict.go) checks them on reads, deletes, metadata updates, compose and
// copy as Cloud Storage does, and publishes Pub/Sub notifications in the
// documented form (notify.go).
//
// The Go client reads objects through the XML API, which fake-gcs-server only
// routes when the Host header is its public host; the server's public host is
// therefore set to its own listener address, and clients also use JSON reads.
package gcsemu

import (
	"context"
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
)

// Server is a running emulator.
type Server struct {
	fake   *fakestorage.Server
	http   *http.Server
	url    string
	notify *notifier
}

// Notification makes the emulator publish Cloud Storage Pub/Sub notifications
// (OBJECT_FINALIZE, JSON_API_V1) for a bucket, as a bucket notification config does.
type Notification struct {
	// PubSubHost is the Pub/Sub emulator's host:port.
	PubSubHost string
	Project    string
	Topic      string
	Bucket     string
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
	h := &strict{fake: fake.HTTPHandler()}
	if n != nil {
		c, err := pubsub.NewClient(context.Background(), n.Project,
			option.WithEndpoint(n.PubSubHost), option.WithoutAuthentication(),
			option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
		if err != nil {
			ln.Close()
			fake.Stop()
			return nil, fmt.Errorf("gcsemu: pubsub client for notifications: %w", err)
		}
		h.notify = newNotifier(n, c)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return &Server{fake: fake, http: srv, url: "http://" + host, notify: h.notify}, nil
}

// URL is the server's base URL, http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// Endpoint is the value for option.WithEndpoint and DROPCAST_STORAGE_ENDPOINT.
func (s *Server) Endpoint() string { return s.url + "/storage/v1/" }

// CreateBucket creates a bucket (with versioning off), ignoring one that exists.
func (s *Server) CreateBucket(name string) {
	s.fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
}

// Client returns a real storage client pointed at the emulator.
func (s *Server) Client(ctx context.Context) (*storage.Client, error) {
	return NewClient(ctx, s.Endpoint())
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
