package gcsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// strict wraps fake-gcs-server with what it leaves out and dropcast relies
// on, as Cloud Storage documents it
// (https://cloud.google.com/storage/docs/request-preconditions):
//
//   - generation and metageneration preconditions on object reads, deletes,
//     metadata updates, compose and copy/rewrite (the fake checks them on
//     uploads only): a failed ifGenerationMatch or ifMetagenerationMatch
//     answers 412 conditionNotMet, a failed ifGenerationNotMatch or
//     ifMetagenerationNotMatch 304 on a read and 412 otherwise;
//   - a check and the change it guards happen as one step: every mutating
//     request is served one at a time, so two conditional writers cannot
//     both pass the same check;
//   - Pub/Sub notifications (see notifier), published after the object is
//     written, with the documented attributes and the JSON API object
//     resource as payload.
//   - IAM: with an Authorizer set, each request's permissions are checked
//     first (iam.go).
type strict struct {
	fake   http.Handler
	mu     sync.Mutex // serialises mutating requests
	notify *notifier  // nil: no notifications
	guard  *guard
}

func (s *strict) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		if !s.authorize(w, r) {
			return
		}
		if t, ok := parseTarget(r); ok {
			if code, msg := s.check(t, r.URL.Query(), true); code != 0 {
				writeError(w, code, msg)
				return
			}
		}
		s.fake.ServeHTTP(w, r)
		return
	}
	s.mu.Lock()
	if !s.authorize(w, r) {
		s.mu.Unlock()
		return
	}
	if t, ok := parseTarget(r); ok {
		if code, msg := s.check(t, r.URL.Query(), false); code != 0 {
			s.mu.Unlock()
			writeError(w, code, msg)
			return
		}
	}
	if s.notify == nil || !finalizes(r) {
		s.fake.ServeHTTP(w, r)
		s.mu.Unlock()
		return
	}
	rec := &teeWriter{ResponseWriter: w, status: http.StatusOK}
	s.fake.ServeHTTP(rec, r)
	s.mu.Unlock()
	if rec.status == http.StatusOK {
		s.notify.finalized(rec.body.Bytes())
	}
}

// target is the object a request's preconditions apply to.
type target struct {
	bucket, object string
	// destination: the request creates the object (compose, copy), so a
	// missing object fails ifGenerationMatch=N (N>0) instead of answering 404.
	destination bool
	// source is the copy source, checked against ifSourceGeneration*.
	source *target
}

// parseTarget finds the object of a JSON API object request, or false when
// the request addresses no single existing object (a listing, an upload).
func parseTarget(r *http.Request) (target, bool) {
	p := r.URL.EscapedPath()
	if rest, ok := strings.CutPrefix(p, "/download"); ok {
		p = rest
	}
	rest, ok := strings.CutPrefix(p, "/storage/v1/b/")
	if !ok {
		return target{}, false
	}
	bucket, rest, ok := strings.Cut(rest, "/o/")
	if !ok || rest == "" {
		return target{}, false
	}
	unescape := func(s string) string {
		u, err := url.PathUnescape(s)
		if err != nil {
			return s
		}
		return u
	}
	if src, dst, ok := cutCopy(rest); ok {
		db, do, ok := strings.Cut(dst, "/o/")
		if !ok {
			return target{}, false
		}
		return target{bucket: unescape(db), object: unescape(do), destination: true,
			source: &target{bucket: unescape(bucket), object: unescape(src)}}, true
	}
	if obj, ok := strings.CutSuffix(rest, "/compose"); ok && r.Method == http.MethodPost {
		return target{bucket: unescape(bucket), object: unescape(obj), destination: true}, true
	}
	if strings.Contains(rest, "/acl") {
		return target{}, false
	}
	return target{bucket: unescape(bucket), object: unescape(rest)}, true
}

// cutCopy splits SRC/rewriteTo/b/DST (or copyTo) into SRC and DST.
func cutCopy(rest string) (src, dst string, ok bool) {
	for _, verb := range []string{"/rewriteTo/b/", "/copyTo/b/"} {
		if src, dst, ok := strings.Cut(rest, verb); ok {
			return src, dst, true
		}
	}
	return "", "", false
}

// objectState is what preconditions compare with.
type objectState struct {
	exists                     bool
	generation, metageneration int64
}

// state reads an object's generation and metageneration through the fake's
// own JSON API, as a client would.
func (s *strict) state(bucket, object string) objectState {
	u := "/storage/v1/b/" + url.PathEscape(bucket) + "/o/" + url.PathEscape(object)
	req := httptest.NewRequest(http.MethodGet, u, nil)
	rec := httptest.NewRecorder()
	s.fake.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return objectState{}
	}
	var o struct {
		Generation     string `json:"generation"`
		Metageneration string `json:"metageneration"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
		return objectState{}
	}
	g, _ := strconv.ParseInt(o.Generation, 10, 64)
	m, _ := strconv.ParseInt(o.Metageneration, 10, 64)
	return objectState{exists: true, generation: g, metageneration: m}
}

// check evaluates the request's preconditions; it returns 0 when the request
// may proceed, else the status to answer and why.
func (s *strict) check(t target, q url.Values, read bool) (int, string) {
	if t.source != nil {
		if code, msg := s.evaluate(*t.source, q, "ifSource", false); code != 0 {
			return code, msg
		}
	}
	return s.evaluate(t, q, "if", read)
}

func (s *strict) evaluate(t target, q url.Values, prefix string, read bool) (int, string) {
	conds := map[string]int64{}
	for _, name := range []string{"GenerationMatch", "GenerationNotMatch", "MetagenerationMatch", "MetagenerationNotMatch"} {
		if v := q.Get(prefix + name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return http.StatusBadRequest, fmt.Sprintf("Invalid value for %s%s: %q", prefix, name, v)
			}
			conds[name] = n
		}
	}
	if len(conds) == 0 {
		return 0, ""
	}
	st := s.state(t.bucket, t.object)
	failed := func(name string) (int, string) {
		code := http.StatusPreconditionFailed
		if read && strings.HasSuffix(name, "NotMatch") {
			code = http.StatusNotModified
		}
		return code, "At least one of the pre-conditions you specified did not hold."
	}
	if !st.exists {
		// The object to read, delete or update is missing: the fake's
		// 404 answers that. A new destination exists only as generation 0.
		if !t.destination {
			return 0, ""
		}
		if n, ok := conds["GenerationMatch"]; ok && n != 0 {
			return failed("GenerationMatch")
		}
		if _, ok := conds["MetagenerationMatch"]; ok {
			return failed("MetagenerationMatch")
		}
		if _, ok := conds["GenerationNotMatch"]; ok {
			return failed("GenerationNotMatch")
		}
		return 0, ""
	}
	if n, ok := conds["GenerationMatch"]; ok && n != st.generation {
		return failed("GenerationMatch")
	}
	if n, ok := conds["GenerationNotMatch"]; ok && n == st.generation {
		return failed("GenerationNotMatch")
	}
	if n, ok := conds["MetagenerationMatch"]; ok && n != st.metageneration {
		return failed("MetagenerationMatch")
	}
	if n, ok := conds["MetagenerationNotMatch"]; ok && n == st.metageneration {
		return failed("MetagenerationNotMatch")
	}
	return 0, ""
}

// writeError answers in the JSON API error format
// (https://cloud.google.com/storage/docs/json_api/v1/status-codes).
func writeError(w http.ResponseWriter, code int, msg string) {
	if code == http.StatusNotModified {
		w.WriteHeader(code) // a 304 carries no body
		return
	}
	reason := map[int]string{
		http.StatusBadRequest:         "invalid",
		http.StatusPreconditionFailed: "conditionNotMet",
	}[code]
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []map[string]string{{"domain": "global", "reason": reason, "message": msg}},
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// finalizes reports whether a request may create an object generation: an
// upload (simple, multipart or a resumable upload's last chunk), a compose
// or a copy.
func finalizes(r *http.Request) bool {
	p := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(p, "/upload/"):
		return r.Method == http.MethodPost || r.Method == http.MethodPut
	case strings.HasPrefix(p, "/storage/v1/b/") && r.Method == http.MethodPost:
		return strings.HasSuffix(p, "/compose") || strings.Contains(p, "/rewriteTo/") || strings.Contains(p, "/copyTo/")
	}
	return false
}

// teeWriter passes a response through and keeps a copy of it.
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (t *teeWriter) WriteHeader(code int) {
	t.status = code
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}
