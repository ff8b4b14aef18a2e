package run

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/option"

	"github.com/dropcast/dropcast/shared/conformance"
)

// fakeGCS is a storage client whose every request is answered by h: the
// documented responses, not an emulator's.
func fakeGCS(t *testing.T, h http.HandlerFunc) *storage.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := storage.NewClient(context.Background(), option.WithEndpoint(srv.URL+"/storage/v1/"),
		option.WithoutAuthentication(), storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func answer(w http.ResponseWriter, body []byte) {
	var e struct{ Error struct{ Code int } }
	json.Unmarshal(body, &e)
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	if e.Error.Code != 0 {
		w.WriteHeader(e.Error.Code)
	}
	w.Write(body)
}

// Creating a record that exists: Cloud Storage answers the ifGenerationMatch=0
// upload with the documented 412, and Create reports ErrExists.
func TestConformancePreconditionFailed(t *testing.T) {
	body := conformance.Load(t, "storage-precondition-failed").MustFile(t, "response.json")
	var sawCondition bool
	c := fakeGCS(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/upload/") && r.URL.Query().Get("ifGenerationMatch") == "0" {
			sawCondition = true
		}
		answer(w, body)
	})
	r := New("purchases-x", "purchases", Source{Bucket: "in", Object: "a.csv", Generation: 1}, "20260426", Plan, time.Now())
	err := NewStore(c, "state").Create(context.Background(), r)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create = %v, want ErrExists", err)
	}
	if !sawCondition {
		t.Error("Create did not send ifGenerationMatch=0")
	}
}

// A record, or a source object, that does not exist: the documented 404 is
// ErrNotFound for Get, false for Exists, and "not superseded".
func TestConformanceObjectNotFound(t *testing.T) {
	body := conformance.Load(t, "storage-object-not-found").MustFile(t, "response.json")
	c := fakeGCS(t, func(w http.ResponseWriter, r *http.Request) { answer(w, body) })
	ctx := context.Background()
	s := NewStore(c, "my-bucket")
	if _, err := s.Get(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get = %v, want ErrNotFound", err)
	}
	if ok, err := s.Exists(ctx, "missing"); ok || err != nil {
		t.Errorf("Exists = %v, %v", ok, err)
	}
	if err := CheckSuperseded(ctx, c, Source{Bucket: "in", Object: "gone.csv", Generation: 5}); err != nil {
		t.Errorf("CheckSuperseded of a deleted source = %v", err)
	}
}

// Generations reads the documented listing: names under runs/ with the
// prefix asked for, generations from their JSON strings, and nothing from
// below a run's own "directory".
func TestConformanceListOrder(t *testing.T) {
	body := conformance.Load(t, "storage-list-order").MustFile(t, "runs-list.json")
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	c := fakeGCS(t, func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/storage/v1/b/state/o/"); ok && r.URL.Query().Get("alt") == "media" {
			id := strings.TrimSuffix(strings.TrimPrefix(name, "runs/"), ".json")
			w.Header().Set("X-Goog-Generation", "1")
			json.NewEncoder(w).Encode(map[string]string{"id": id})
			return
		}
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/o") {
			http.NotFound(w, r)
			return
		}
		// objects.list: only names starting with prefix.
		out := list
		out.Items = nil
		for _, it := range list.Items {
			if strings.HasPrefix(it["name"].(string), r.URL.Query().Get("prefix")) {
				out.Items = append(out.Items, it)
			}
		}
		json.NewEncoder(w).Encode(out)
	})
	gens, err := NewStore(c, "state").Generations(context.Background(), "purchases-")
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, len(gens))
	for id := range gens {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"purchases-20260101-a1", "purchases-20260102-b2"}) ||
		gens["purchases-20260101-a1"] != 1714132800000001 || gens["purchases-20260102-b2"] != 1714132800000003 {
		t.Fatalf("Generations = %v", gens)
	}
	// List returns records in the listing's (lexicographic) order.
	runs, err := NewStore(c, "state").List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range runs {
		got = append(got, r.ID)
	}
	if !slices.Equal(got, []string{"purchases-20260101-a1", "purchases-20260102-b2", "sales-20260101-c3"}) {
		t.Fatalf("List = %q", got)
	}
}
