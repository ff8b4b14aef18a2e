package pubsubemu_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"github.com/cloudevents/sdk-go/v2/event"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/emulator/gcsemu"
	"github.com/dropcast/dropcast/shared/emulator/pubsubemu"
)

func startPubSub(t *testing.T, topic, sub string) (context.Context, *pubsubemu.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	s, err := pubsubemu.Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if err := s.CreateTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSubscription(ctx, topic, sub, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return ctx, s
}

// first runs bridge until it delivers one event, and returns that event.
func first(t *testing.T, ctx context.Context, bridge func(context.Context, pubsubemu.Handler) error) event.Event {
	t.Helper()
	got := make(chan event.Event, 1)
	bctx, stop := context.WithCancel(ctx)
	defer stop()
	go bridge(bctx, func(_ context.Context, e event.Event) error {
		select {
		case got <- e:
		default:
		}
		return nil
	})
	select {
	case e := <-got:
		return e
	case <-ctx.Done():
		t.Fatal("no event delivered")
		return event.Event{}
	}
}

// keys returns the keys of a JSON object, recursing into nested objects as
// "parent.child".
func keys(t *testing.T, data []byte) []string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			out = append(out, prefix+k)
			if sub, ok := v.(map[string]any); ok && k != "attributes" {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", m)
	slices.Sort(out)
	return out
}

// headers parses the fixture's "Name: value" lines.
func headers(t *testing.T, data []byte) map[string]string {
	t.Helper()
	h := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
			h[strings.ToLower(k)] = v
		}
	}
	return h
}

// A message reaches the function as the documented messagePublished event:
// ce-source names the topic, and data has the documented members, the
// payload in base64.
func TestConformanceMessagePublished(t *testing.T) {
	f := conformance.Load(t, "eventarc-pubsub-message-published")
	h := headers(t, f.MustFile(t, "headers.txt"))
	wantKeys := keys(t, f.MustFile(t, "data.json"))
	ctx, s := startPubSub(t, "my-topic", "my-sub")
	pub := s.Client().Publisher("my-topic")
	defer pub.Stop()
	if _, err := pub.Publish(ctx, &pubsub.Message{Data: []byte("hello world"), Attributes: map[string]string{"attr1": "attr1-value"}}).Get(ctx); err != nil {
		t.Fatal(err)
	}
	e := first(t, ctx, func(ctx context.Context, fn pubsubemu.Handler) error { return s.Bridge(ctx, "my-sub", fn) })

	if e.Type() != h["ce-type"] || e.SpecVersion() != h["ce-specversion"] {
		t.Errorf("type %q specversion %q, want %q %q", e.Type(), e.SpecVersion(), h["ce-type"], h["ce-specversion"])
	}
	// The documented source is //pubsub.googleapis.com/projects/my-project/topics/my-topic.
	wantSource := strings.ReplaceAll(h["ce-source"], "my-project", "p")
	if e.Source() != wantSource {
		t.Errorf("source %q, want %q", e.Source(), wantSource)
	}
	if e.ID() == "" || e.Time().IsZero() || !strings.HasPrefix(e.DataContentType(), "application/json") {
		t.Errorf("id %q time %v content type %q", e.ID(), e.Time(), e.DataContentType())
	}
	if got := keys(t, e.Data()); !slices.Equal(got, wantKeys) {
		t.Errorf("data members %q, want %q", got, wantKeys)
	}
	var want, got struct {
		Subscription string
		Message      struct {
			Data       []byte
			Attributes map[string]string
		}
	}
	json.Unmarshal(f.MustFile(t, "data.json"), &want)
	if err := json.Unmarshal(e.Data(), &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Message.Data, want.Message.Data) || !maps.Equal(got.Message.Attributes, want.Message.Attributes) {
		t.Errorf("message %+v, want %+v", got.Message, want.Message)
	}
	if wantSub := strings.ReplaceAll(want.Subscription, "my-project", "p"); got.Subscription != wantSub {
		t.Errorf("subscription %q, want %q", got.Subscription, wantSub)
	}
}

// An upload to the watched bucket reaches the function as the documented
// storage.object.v1.finalized event: source, subject, and StorageObjectData
// with its int64 fields as strings.
func TestConformanceStorageFinalized(t *testing.T) {
	f := conformance.Load(t, "eventarc-storage-finalized")
	var want struct {
		SpecVersion, Type, Source, Subject, DataContentType string
		Data                                                map[string]any
	}
	if err := json.Unmarshal(f.MustFile(t, "event.json"), &want); err != nil {
		t.Fatal(err)
	}
	ctx, ps := startPubSub(t, "inbox", "ingest")
	g, err := gcsemu.StartWithNotification(&gcsemu.Notification{PubSubHost: ps.Addr(), Project: "p", Topic: "inbox", Bucket: "some-bucket"})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	g.CreateBucket("some-bucket")
	c, err := g.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := c.Bucket("some-bucket").Object("folder/Test.cs").NewWriter(ctx)
	w.ContentType = "text/plain"
	io.WriteString(w, strings.Repeat("x", 352))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	e := first(t, ctx, func(ctx context.Context, fn pubsubemu.Handler) error { return ps.BridgeStorage(ctx, "ingest", fn) })

	if e.Type() != want.Type || e.SpecVersion() != want.SpecVersion || e.Source() != want.Source ||
		e.Subject() != want.Subject || e.DataContentType() != want.DataContentType {
		t.Errorf("event %s %s source %q subject %q content type %q, want %+v", e.SpecVersion(), e.Type(), e.Source(), e.Subject(), e.DataContentType(), want)
	}
	if e.ID() == "" || e.Time().IsZero() {
		t.Errorf("id %q time %v", e.ID(), e.Time())
	}
	var data map[string]any
	if err := json.Unmarshal(e.Data(), &data); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"bucket", "name", "generation", "size", "metageneration", "contentType", "timeCreated", "updated", "kind", "storageClass"} {
		wv, gv := want.Data[k], data[k]
		if _, ok := gv.(string); !ok {
			t.Errorf("data.%s = %v (%T), documented as a JSON string like %q", k, gv, gv, wv)
		}
	}
	for _, k := range []string{"bucket", "name", "size", "metageneration", "contentType", "kind"} {
		if data[k] != want.Data[k] {
			t.Errorf("data.%s = %v, want %v", k, data[k], want.Data[k])
		}
	}
	if data["generation"] != itoa(w.Attrs().Generation) {
		t.Errorf("data.generation = %v, want %d", data["generation"], w.Attrs().Generation)
	}
	if _, err := time.Parse(time.RFC3339Nano, data["timeCreated"].(string)); err != nil {
		t.Errorf("timeCreated: %v", err)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// Pub/Sub refuses what breaks its documented message limits, and accepts a
// message at the limits.
func TestConformanceMessageLimits(t *testing.T) {
	f := conformance.Load(t, "pubsub-message-limits")
	var lim struct {
		MaxAttributes, MaxAttributeKeyBytes, MaxAttributeValueBytes, MaxMessageBytes int
	}
	if err := json.Unmarshal(f.MustFile(t, "limits.json"), &lim); err != nil {
		t.Fatal(err)
	}
	ctx, s := startPubSub(t, "t", "sub")
	pub := s.Client().Publisher("t")
	defer pub.Stop()
	publish := func(m *pubsub.Message) error {
		_, err := pub.Publish(ctx, m).Get(ctx)
		return err
	}
	attrs := func(n, keyLen, valueLen int) map[string]string {
		a := map[string]string{}
		for i := range n {
			k := strings.Repeat("k", keyLen-3) + string(rune('a'+i/26%26)) + string(rune('a'+i%26)) + "_"
			a[k] = strings.Repeat("v", valueLen)
		}
		return a
	}
	if err := publish(&pubsub.Message{Data: []byte("x"), Attributes: attrs(lim.MaxAttributes, lim.MaxAttributeKeyBytes, lim.MaxAttributeValueBytes)}); err != nil {
		t.Fatalf("a message at every limit was refused: %v", err)
	}
	for name, m := range map[string]*pubsub.Message{
		"too many attributes":         {Data: []byte("x"), Attributes: attrs(lim.MaxAttributes+1, 8, 1)},
		"attribute key too long":      {Data: []byte("x"), Attributes: attrs(1, lim.MaxAttributeKeyBytes+1, 1)},
		"attribute value too long":    {Data: []byte("x"), Attributes: attrs(1, 8, lim.MaxAttributeValueBytes+1)},
		"message too large":           {Data: bytes.Repeat([]byte("x"), lim.MaxMessageBytes+1)},
		"neither data nor attributes": {},
	} {
		// The client refuses some of these itself; either way the
		// message is not published.
		err := publish(m)
		if err == nil {
			t.Errorf("%s: published", name)
			continue
		}
		if st, ok := status.FromError(err); ok && st.Code() != codes.InvalidArgument && !errors.Is(err, pubsub.ErrOversizedMessage) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
}
