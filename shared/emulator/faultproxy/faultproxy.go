// Package faultproxy puts a seeded fault injector in front of an HTTP
// emulator: requests fail with 503 or 429 before they reach it, fail with 503
// after it has done the work (an ambiguous failure: the client cannot tell
// whether its request took effect), or are delayed. The same seed gives the
// same sequence of decisions.
package faultproxy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Faults are the probabilities of each fault per request.
type Faults struct {
	Seed uint64
	// Unavailable answers 503 without forwarding.
	Unavailable float64
	// TooManyRequests answers 429 without forwarding.
	TooManyRequests float64
	// LostResponse forwards, then answers 503 instead of the real response.
	LostResponse float64
	// Delay holds a request this long before forwarding, with probability SlowRate.
	Delay    time.Duration
	SlowRate float64
	// LostWriteReplies is the probability that a write (a request other
	// than GET and HEAD) to an object whose name starts with one of
	// LostWritePrefixes reaches the emulator and has its answer replaced
	// by 503, on top of the faults above. Its draws come from a stream of
	// their own, so they leave the other faults' sequence unchanged.
	LostWriteReplies  float64
	LostWritePrefixes []string
}

// LoseNextWrites makes the next n writes (requests other than GET and HEAD)
// reach the emulator and have their answers replaced by 503, whatever the
// seeded faults say.
func (p *Proxy) LoseNextWrites(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.loseNext = n
}

// Stats counts what the proxy did.
type Stats struct {
	Requests, Unavailable, TooManyRequests, LostResponses, Delayed int
	// TargetedLost counts the LostWriteReplies among LostResponses.
	TargetedLost int
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	srv      *http.Server
	ln       net.Listener
	next     *httputil.ReverseProxy
	mu       sync.Mutex
	f        Faults
	rng      *rand.Rand
	wrng     *rand.Rand // LostWriteReplies' stream
	stats    Stats
	loseNext int
}

// Start proxies to target (an http:// base URL) on 127.0.0.1.
func Start(target string, f Faults) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: target %q: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	p := &Proxy{ln: ln, next: httputil.NewSingleHostReverseProxy(u)}
	// The emulators route by Host: keep the target's.
	director := p.next.Director
	p.next.Director = func(r *http.Request) { director(r); r.Host = u.Host }
	p.SetFaults(f)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// SetFaults replaces the faults and reseeds.
func (p *Proxy) SetFaults(f Faults) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.f, p.rng = f, rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
	p.wrng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x6c6f7374)) // "lost"
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

type decision int

const (
	pass decision = iota
	unavailable
	tooMany
	lost
)

func (p *Proxy) decide(r *http.Request) (decision, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	write := r.Method != http.MethodGet && r.Method != http.MethodHead
	if p.loseNext > 0 && write {
		p.loseNext--
		p.stats.LostResponses++
		return lost, 0
	}
	if write && p.f.LostWriteReplies > 0 && hasPrefix(objectName(r), p.f.LostWritePrefixes) && p.wrng.Float64() < p.f.LostWriteReplies {
		p.stats.LostResponses++
		p.stats.TargetedLost++
		return lost, 0
	}
	var delay time.Duration
	if p.f.SlowRate > 0 && p.rng.Float64() < p.f.SlowRate {
		delay = p.f.Delay
		p.stats.Delayed++
	}
	x := p.rng.Float64()
	switch {
	case x < p.f.Unavailable:
		p.stats.Unavailable++
		return unavailable, delay
	case x < p.f.Unavailable+p.f.TooManyRequests:
		p.stats.TooManyRequests++
		return tooMany, delay
	case x < p.f.Unavailable+p.f.TooManyRequests+p.f.LostResponse:
		p.stats.LostResponses++
		return lost, delay
	}
	return pass, delay
}

// ServeHTTP forwards r, or fails it.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d, delay := p.decide(r)
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	switch d {
	case unavailable:
		http.Error(w, `{"error":{"code":503,"message":"injected: backend unavailable"}}`, http.StatusServiceUnavailable)
	case tooMany:
		w.Header().Set("Retry-After", "0")
		http.Error(w, `{"error":{"code":429,"message":"injected: rate limited"}}`, http.StatusTooManyRequests)
	case lost:
		rec := httptest.NewRecorder()
		p.next.ServeHTTP(rec, r) // the work happens; its answer is lost
		http.Error(w, `{"error":{"code":503,"message":"injected: response lost"}}`, http.StatusServiceUnavailable)
	default:
		p.next.ServeHTTP(w, r)
	}
}

// objectName is the object a Cloud Storage JSON API request names: the
// name parameter of an upload (…/upload/storage/v1/b/B/o?name=N), else the
// path segment after the last "o" (…/b/B/o/N, …/o/SRC/rewriteTo/b/B/o/DST,
// …/o/N/compose), or "" for none.
func objectName(r *http.Request) string {
	if n := r.URL.Query().Get("name"); n != "" {
		return n
	}
	segs := strings.Split(r.URL.EscapedPath(), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if segs[i] == "o" {
			n, err := url.PathUnescape(segs[i+1])
			if err != nil {
				return ""
			}
			return n
		}
	}
	return ""
}

func hasPrefix(name string, prefixes []string) bool {
	for _, p := range prefixes {
		if name != "" && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
