package gcsemu

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"github.com/dropcast/dropcast/shared/conformance"
	"github.com/dropcast/dropcast/shared/emulator/pubsubemu"
)

func start(t *testing.T, buckets ...string) (*Server, *storage.Client) {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for _, b := range buckets {
		s.CreateBucket(b)
	}
	c, err := s.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return s, c
}

func put(t *testing.T, o *storage.ObjectHandle, data string, chunk int) (int64, error) {
	t.Helper()
	w := o.NewWriter(context.Background())
	w.ChunkSize = chunk
	io.WriteString(w, data)
	if err := w.Close(); err != nil {
		return 0, err
	}
	return w.Attrs().Generation, nil
}

// documentedError is the status and reason of a documented error body.
func documentedError(t *testing.T, body []byte) (int, string) {
	t.Helper()
	var e struct {
		Error struct {
			Code   int `json:"code"`
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Error.Errors) == 0 {
		t.Fatalf("fixture error body: %v", err)
	}
	return e.Error.Code, e.Error.Errors[0].Reason
}

// wantError fails unless err is the documented status and reason.
func wantError(t *testing.T, what string, err error, code int, reason string) {
	t.Helper()
	var g *googleapi.Error
	if !errors.As(err, &g) || g.Code != code {
		t.Errorf("%s: got %v, want HTTP %d", what, err, code)
		return
	}
	if len(g.Errors) == 0 || g.Errors[0].Reason != reason {
		t.Errorf("%s: reason %+v, want %q", what, g.Errors, reason)
	}
}

// Every operation dropcast makes conditional answers 412 conditionNotMet
// when its precondition does not hold, not only uploads.
func TestConformancePreconditionFailed(t *testing.T) {
	f := conformance.Load(t, "storage-precondition-failed")
	code, reason := documentedError(t, f.MustFile(t, "response.json"))
	_, c := start(t, "b")
	ctx := context.Background()
	b := c.Bucket("b")

	for _, chunk := range []int{0, googleapi.MinUploadChunkSize} {
		o := b.Object("create-" + string(rune('a'+chunk%25)))
		if _, err := put(t, o.If(storage.Conditions{DoesNotExist: true}), "1", chunk); err != nil {
			t.Fatalf("chunk %d: first create: %v", chunk, err)
		}
		_, err := put(t, o.If(storage.Conditions{DoesNotExist: true}), "2", chunk)
		wantError(t, "create over an existing object (ifGenerationMatch=0)", err, code, reason)
	}

	o := b.Object("x")
	gen, err := put(t, o, "v1", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = put(t, o.If(storage.Conditions{GenerationMatch: gen + 1}), "v2", googleapi.MinUploadChunkSize)
	wantError(t, "upload with a stale ifGenerationMatch", err, code, reason)

	wantError(t, "delete with a stale ifGenerationMatch", o.If(storage.Conditions{GenerationMatch: gen + 1}).Delete(ctx), code, reason)
	if _, err := o.Attrs(ctx); err != nil {
		t.Fatalf("a refused delete deleted the object: %v", err)
	}
	_, err = o.If(storage.Conditions{GenerationMatch: gen + 1}).Attrs(ctx)
	wantError(t, "metadata read with a stale ifGenerationMatch", err, code, reason)
	_, err = o.If(storage.Conditions{GenerationMatch: gen + 1}).NewReader(ctx)
	var g *googleapi.Error // the client does not parse a media read's error body
	if !errors.As(err, &g) || g.Code != code {
		t.Errorf("media read with a stale ifGenerationMatch: got %v, want HTTP %d", err, code)
	}
	_, err = o.If(storage.Conditions{MetagenerationMatch: 99}).Update(ctx, storage.ObjectAttrsToUpdate{ContentType: "text/plain"})
	wantError(t, "metadata update with a stale ifMetagenerationMatch", err, code, reason)
	_, err = o.If(storage.Conditions{DoesNotExist: true}).ComposerFrom(b.Object("create-a")).Run(ctx)
	wantError(t, "compose onto an existing object with ifGenerationMatch=0", err, code, reason)
	_, err = o.If(storage.Conditions{DoesNotExist: true}).CopierFrom(b.Object("create-a")).Run(ctx)
	wantError(t, "copy onto an existing object with ifGenerationMatch=0", err, code, reason)

	// The matching precondition proceeds.
	if err := o.If(storage.Conditions{GenerationMatch: gen}).Delete(ctx); err != nil {
		t.Fatalf("delete with the current generation: %v", err)
	}

	// Check and write are one step: of many creators with
	// ifGenerationMatch=0, exactly one succeeds.
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Go(func() {
			if _, err := put(t, b.Object("race").If(storage.Conditions{DoesNotExist: true}), "r", googleapi.MinUploadChunkSize); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if won != 1 {
		t.Errorf("%d of 8 conditional creates succeeded, want 1", won)
	}
}

// A missing object answers 404 notFound, which the client reports as
// storage.ErrObjectNotExist.
func TestConformanceObjectNotFound(t *testing.T) {
	f := conformance.Load(t, "storage-object-not-found")
	code, reason := documentedError(t, f.MustFile(t, "response.json"))
	s, c := start(t, "b")
	ctx := context.Background()
	resp, err := http.Get(s.URL() + "/storage/v1/b/b/o/runs%2Fmissing.json")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if got, gotReason := documentedErrorOrZero(body); resp.StatusCode != code || got != code || gotReason != reason {
		t.Errorf("GET of a missing object: HTTP %d %s, want %d with reason %q", resp.StatusCode, body, code, reason)
	}
	o := c.Bucket("b").Object("runs/missing.json")
	if _, err := o.Attrs(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("Attrs: %v", err)
	}
	if _, err := o.NewReader(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("NewReader: %v", err)
	}
	if err := o.Delete(ctx); !errors.Is(err, storage.ErrObjectNotExist) {
		t.Errorf("Delete: %v", err)
	}
}

func documentedErrorOrZero(body []byte) (int, string) {
	var e struct {
		Error struct {
			Code   int `json:"code"`
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.Error.Errors) == 0 {
		return 0, ""
	}
	return e.Error.Code, e.Error.Errors[0].Reason
}

// Listings come in lexicographic order, and a delimiter folds deeper names
// into prefixes, as the objects.list example says.
func TestConformanceListOrder(t *testing.T) {
	f := conformance.Load(t, "storage-list-order")
	names := strings.Fields(string(f.MustFile(t, "objects.txt")))
	var want struct{ Items, Prefixes []string }
	if err := json.Unmarshal(f.MustFile(t, "delimited.json"), &want); err != nil {
		t.Fatal(err)
	}
	_, c := start(t, "b")
	b := c.Bucket("b")
	for i := len(names) - 1; i >= 0; i-- { // created in reverse order
		if _, err := put(t, b.Object(names[i]), "x", 0); err != nil {
			t.Fatal(err)
		}
	}
	list := func(q *storage.Query) (items, prefixes []string) {
		it := b.Objects(context.Background(), q)
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return items, prefixes
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.Prefix != "" {
				prefixes = append(prefixes, a.Prefix)
			} else {
				items = append(items, a.Name)
			}
		}
	}
	all, _ := list(&storage.Query{})
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	if !slices.Equal(all, sorted) {
		t.Errorf("listing %q, want lexicographic %q", all, sorted)
	}
	items, prefixes := list(&storage.Query{Delimiter: "/"})
	if !slices.Equal(items, want.Items) || !slices.Equal(prefixes, want.Prefixes) {
		t.Errorf("delimited listing: items %q prefixes %q, want %q %q", items, prefixes, want.Items, want.Prefixes)
	}
	items, prefixes = list(&storage.Query{Prefix: "e/", Delimiter: "/"})
	if !slices.Equal(items, []string{"e/f"}) || len(prefixes) != 1 || !strings.HasSuffix(prefixes[0], "g/") {
		t.Errorf("listing of e/: items %q prefixes %q, want [e/f] and one prefix ending g/", items, prefixes)
	}
}

// An upload to a notified bucket publishes the documented notification:
// the same attribute names, and the object resource as payload with its
// int64 fields as strings.
func TestConformanceGCSNotification(t *testing.T) {
	f := conformance.Load(t, "pubsub-gcs-notification")
	var wantAttrs map[string]string
	if err := json.Unmarshal(f.MustFile(t, "attributes.json"), &wantAttrs); err != nil {
		t.Fatal(err)
	}
	var wantPayload map[string]any
	if err := json.Unmarshal(f.MustFile(t, "payload.json"), &wantPayload); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ps, err := pubsubemu.Start(ctx, "p")
	if err != nil {
		t.Fatal(err)
	}
	defer ps.Close()
	if err := ps.CreateTopic(ctx, "inbox"); err != nil {
		t.Fatal(err)
	}
	if err := ps.CreateSubscription(ctx, "inbox", "sub", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	s, err := StartWithNotification(&Notification{PubSubHost: ps.Addr(), Project: "p", Topic: "inbox", Bucket: "in"})
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
	w := c.Bucket("in").Object("incoming/a.csv").NewWriter(ctx)
	w.ContentType = "text/csv"
	io.WriteString(w, "a,b\n1,2\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	gen := w.Attrs().Generation

	got := make(chan *pubsub.Message, 1)
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go ps.Client().Subscriber("sub").Receive(rctx, func(_ context.Context, m *pubsub.Message) {
		m.Ack()
		select {
		case got <- m:
		default:
		}
	})
	var m *pubsub.Message
	select {
	case m = <-got:
	case <-ctx.Done():
		t.Fatal("no notification published")
	}
	for k := range wantAttrs {
		if m.Attributes[k] == "" {
			t.Errorf("attribute %s missing: %v", k, m.Attributes)
		}
	}
	if m.Attributes["eventType"] != wantAttrs["eventType"] || m.Attributes["payloadFormat"] != wantAttrs["payloadFormat"] ||
		m.Attributes["bucketId"] != "in" || m.Attributes["objectId"] != "incoming/a.csv" ||
		m.Attributes["objectGeneration"] != itoa(gen) ||
		!strings.HasPrefix(m.Attributes["notificationConfig"], "projects/_/buckets/in/notificationConfigs/") {
		t.Errorf("attributes %v", m.Attributes)
	}
	var payload map[string]any
	if err := json.Unmarshal(m.Data, &payload); err != nil {
		t.Fatalf("payload %s: %v", m.Data, err)
	}
	for k, v := range wantPayload {
		g, ok := payload[k]
		if !ok {
			if k == "crc32c" || k == "md5Hash" || k == "etag" || k == "selfLink" {
				continue // checksums and links: dropcast reads none of them
			}
			t.Errorf("payload has no %s: %s", k, m.Data)
			continue
		}
		if _, isString := v.(string); isString {
			if _, ok := g.(string); !ok {
				t.Errorf("payload %s = %v (%T), documented as a JSON string", k, g, g)
			}
		}
	}
	if payload["generation"] != itoa(gen) || payload["size"] != "8" || payload["kind"] != wantPayload["kind"] {
		t.Errorf("payload %s", m.Data)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
