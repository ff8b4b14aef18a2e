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
