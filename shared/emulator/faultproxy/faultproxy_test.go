package faultproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func TestFaultsAreSeededAndLostResponsesDoTheWork(t *testing.T) {
	var hits atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	codes := func(f Faults) ([]int, Stats) {
		p, err := Start(backend.URL, f)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		var out []int
		for range 200 {
			resp, err := http.Get(p.URL() + "/x")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			out = append(out, resp.StatusCode)
		}
		return out, p.Stats()
	}
	f := Faults{Seed: 42, Unavailable: 0.1, TooManyRequests: 0.1, LostResponse: 0.1}
	before := hits.Load()
	a, st := codes(f)
	forwarded := hits.Load() - before
	b, _ := codes(f)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("request %d: %d then %d with the same seed", i, a[i], b[i])
		}
	}
	if st.Unavailable == 0 || st.TooManyRequests == 0 || st.LostResponses == 0 {
		t.Fatalf("faults not injected: %+v", st)
	}
	ok := 0
	for _, c := range a {
		if c == 200 {
			ok++
		}
	}
	if int(forwarded) != ok+st.LostResponses {
		t.Fatalf("backend saw %d requests, want %d answered plus %d lost", forwarded, ok, st.LostResponses)
	}
}

func TestLostWriteRepliesTargetObjectPrefixes(t *testing.T) {
	var hits atomic.Int64
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	p, err := Start(backend.URL, Faults{Seed: 1, LostWriteReplies: 1, LostWritePrefixes: []string{"active/", "notified/"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, c := range []struct {
		method, path string
		lost         bool
	}{
		{"POST", "/upload/storage/v1/b/state/o?uploadType=multipart&name=active%2Frun-1", true},
		{"DELETE", "/storage/v1/b/state/o/active%2Frun-1?ifGenerationMatch=3", true},
		{"POST", "/storage/v1/b/state/o/x/rewriteTo/b/state/o/notified%2Frun-1-e0-run.failed", true},
		{"GET", "/storage/v1/b/state/o/active%2Frun-1", false},
		{"POST", "/upload/storage/v1/b/state/o?uploadType=multipart&name=runs%2Frun-1", false},
		{"PATCH", "/storage/v1/b/state/o/runs%2Factive%2Fx", false},
	} {
		before := hits.Load()
		req, _ := http.NewRequest(c.method, p.URL()+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.StatusCode == http.StatusServiceUnavailable; got != c.lost {
			t.Errorf("%s %s: %d, want lost=%v", c.method, c.path, resp.StatusCode, c.lost)
		}
		if hits.Load() != before+1 {
			t.Errorf("%s %s did not reach the backend", c.method, c.path)
		}
	}
	if st := p.Stats(); st.TargetedLost != 3 || st.LostResponses != 3 {
		t.Errorf("stats %+v, want 3 targeted losses", st)
	}
}
