package gcsemu

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/dropcast/dropcast/shared/emulator/iamemu"
)

// IAM in the emulator: with an Authorizer set (SetAuthorizer), every request
// is checked before it is served, for the identity its bearer token names
// (iamemu.IdentityFromHTTP), the permission the JSON API method needs and
// the bucket it touches (projects/_/buckets/B). Requests of the server's
// owner (Server.Client: provisioning, tests, and the other emulators when
// they act as Google services) are never checked.
//
// Method → permission, from Cloud Storage's documentation:
//
//   - "The following table lists the Identity and Access Management (IAM)
//     permissions required to run each Cloud Storage JSON method on a given
//     resource." (https://cloud.google.com/storage/docs/access-control/iam-json)
//     The stored copy of that page consulted here shows its rows up to
//     Buckets (e.g. "Buckets | get | storage.buckets.get"); the object rows
//     below rest on the XML table of the same set, whose rows are quoted,
//     and on the permission descriptions:
//   - https://cloud.google.com/storage/docs/access-control/iam-xml rows
//     "GET | object | storage.objects.get", "HEAD | object |
//     storage.objects.get", "GET | bucket | storage.objects.list",
//     "DELETE | object | storage.objects.delete", "POST | object |
//     storage.objects.create storage.objects.delete 4", "PUT | object |
//     compose | storage.objects.create storage.objects.get
//     storage.objects.delete 4", "HEAD | bucket | storage.buckets.get".
//   - https://cloud.google.com/storage/docs/access-control/iam-permissions:
//     "storage.objects.update | Update object metadata, excluding ACLs."
//     (objects.patch and objects.update), and "In order to replace existing
//     objects, both storage.objects.create and storage.objects.delete
//     permissions are required." (an upload, compose or copy whose
//     destination exists).
//   - https://cloud.google.com/storage/docs/composing-objects, "Required
//     permissions": "storage.objects.create", "storage.objects.delete — This
//     permission is only required if you want to give the object you compose
//     the same name as an object that already exists in the bucket.",
//     "storage.objects.get".
//   - Copy and rewrite: https://cloud.google.com/storage/docs/access-control/iam-console
//     lists "Copy an object" with permissions "(for the destination bucket)"
//     and "(for the source object)"; the stored copy does not show which
//     permission sits on which line, so this follows the compose row and the
//     description of storage.objects.get ("Read object data and metadata"):
//     storage.objects.get on the source, storage.objects.create (and delete,
//     when replacing) on the destination.
//
// Not settled by these pages, and chosen here: a write whose precondition
// already rules out replacing (ifGenerationMatch=0) does not need
// storage.objects.delete — it cannot replace anything, and a failed
// precondition answers 412 as it would without IAM. A resumable upload is
// checked when its session is started, against the object as it is then;
// the session's later requests are not checked (the emulator cannot tell
// their identity from the session, and they add no new operation).
// need is one permission a request needs on a bucket (or, for bucket
// creation and listing, a project).
type need struct {
	permission, resource string
}

func bucketResource(b string) string { return "projects/_/buckets/" + b }

// guard holds the Authorizer and the owner's token.
type guard struct {
	mu    sync.RWMutex
	authz iamemu.Authorizer
	owner string // the bearer token of the server's own clients
}

func (g *guard) authorizer() iamemu.Authorizer {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.authz
}

// authorize checks r and answers a refusal; it reports whether r may be
// served. It runs under strict's lock for mutating requests, so the
// existence of a destination it reads is the one the write meets.
func (s *strict) authorize(w http.ResponseWriter, r *http.Request) bool {
	a := s.guard.authorizer()
	if a == nil {
		return true
	}
	id := iamemu.IdentityFromHTTP(r)
	if id != "" && id == s.guard.owner {
		return true
	}
	needs, err := s.required(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	for _, n := range needs {
		if err := a.Check(id, n.permission, n.resource); err != nil {
			writeDenied(w, r, err)
			return false
		}
	}
	return true
}

// writeDenied answers a refusal as Cloud Storage does
// (https://cloud.google.com/storage/docs/json_api/v1/status-codes): "403
// Forbidden" with reason "forbidden", or, for a request that carries no
// Authorization header at all, "401 Unauthorized" with reason "required".
// The message names the permission.
func writeDenied(w http.ResponseWriter, r *http.Request, err error) {
	code, reason := http.StatusForbidden, "forbidden"
	if r.Header.Get("Authorization") == "" {
		code, reason = http.StatusUnauthorized, "required"
	}
	msg := err.Error()
	body := map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"errors":  []map[string]string{{"domain": "global", "reason": reason, "message": msg}},
	}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

// required lists what a request needs, or an error for a request whose
// permission the emulator does not know (it is refused rather than let
// through unchecked).
func (s *strict) required(r *http.Request) ([]need, error) {
	p := r.URL.EscapedPath()
	unknown := fmt.Errorf("gcsemu: no IAM permission is known for %s %s; the emulator refuses it under IAM enforcement", r.Method, p)
	unescape := func(v string) string {
		if u, err := url.PathUnescape(v); err == nil {
			return u
		}
		return v
	}
	read := r.Method == http.MethodGet || r.Method == http.MethodHead

	if rest, ok := strings.CutPrefix(p, "/upload/storage/v1/b/"); ok {
		bucket, _, _ := strings.Cut(rest, "/")
		bucket = unescape(bucket)
		if r.Method != http.MethodPost || r.URL.Query().Get("upload_id") != "" {
			return nil, nil // a resumable session's later requests
		}
		name, err := uploadName(r)
		if err != nil {
			return nil, err
		}
		return s.writeNeeds(bucket, name, r.URL.Query()), nil
	}
	if strings.HasPrefix(p, "/upload/resumable/") {
		return nil, nil
	}
	if rest, ok := strings.CutPrefix(p, "/download/storage/v1/b/"); ok {
		bucket, obj, ok := strings.Cut(rest, "/o/")
		if !ok || !read || obj == "" {
			return nil, unknown
		}
		return []need{{"storage.objects.get", bucketResource(unescape(bucket))}}, nil
	}
	rest, ok := strings.CutPrefix(p, "/storage/v1/b")
	if !ok {
		// The XML API's object reads (GET or HEAD /BUCKET/OBJECT).
		bucket, obj, ok := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		if read && ok && bucket != "" && obj != "" && !strings.HasPrefix(p, "/_internal/") {
			return []need{{"storage.objects.get", bucketResource(unescape(bucket))}}, nil
		}
		return nil, unknown
	}
	project := "projects/" + r.URL.Query().Get("project")
	if rest == "" || rest == "/" {
		switch r.Method {
		case http.MethodGet:
			return []need{{"storage.buckets.list", project}}, nil
		case http.MethodPost:
			return []need{{"storage.buckets.create", project}}, nil
		}
		return nil, unknown
	}
	rest = strings.TrimPrefix(rest, "/")
	bucketPart, objPart, hasObj := strings.Cut(rest, "/o")
	bucket := unescape(bucketPart)
	res := bucketResource(bucket)
	if !hasObj {
		if strings.Contains(bucketPart, "/") {
			return nil, unknown // acl, notificationConfigs, storageLayout…
		}
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			return []need{{"storage.buckets.get", res}}, nil
		case http.MethodPatch, http.MethodPut:
			return []need{{"storage.buckets.update", res}}, nil
		case http.MethodDelete:
			return []need{{"storage.buckets.delete", res}}, nil
		}
		return nil, unknown
	}
	if objPart == "" || objPart == "/" {
		if read {
			return []need{{"storage.objects.list", res}}, nil
		}
		return nil, unknown
	}
	objPart = strings.TrimPrefix(objPart, "/")
	if _, dst, ok := cutCopy(objPart); ok {
		db, do, ok := strings.Cut(dst, "/o/")
		if !ok || r.Method != http.MethodPost {
			return nil, unknown
		}
		out := []need{{"storage.objects.get", res}}
		return append(out, s.writeNeeds(unescape(db), unescape(do), r.URL.Query())...), nil
	}
	if obj, ok := strings.CutSuffix(objPart, "/compose"); ok && r.Method == http.MethodPost {
		out := s.writeNeeds(bucket, unescape(obj), r.URL.Query())
		return append(out, need{"storage.objects.get", res}), nil
	}
	if strings.Contains(objPart, "/acl") {
		return nil, unknown
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return []need{{"storage.objects.get", res}}, nil
	case http.MethodDelete:
		return []need{{"storage.objects.delete", res}}, nil
	case http.MethodPatch, http.MethodPut, http.MethodPost:
		return []need{{"storage.objects.update", res}}, nil
	}
	return nil, unknown
}

// writeNeeds is what writing bucket/name needs: storage.objects.create, and
// storage.objects.delete when the object exists and the request's
// preconditions do not rule out replacing it.
func (s *strict) writeNeeds(bucket, name string, q url.Values) []need {
	res := bucketResource(bucket)
	out := []need{{"storage.objects.create", res}}
	if q.Get("ifGenerationMatch") == "0" || name == "" {
		return out
	}
	if s.state(bucket, name).exists {
		out = append(out, need{"storage.objects.delete", res})
	}
	return out
}

// uploadName is the object name of an upload request: the name parameter,
// or the name in its metadata (the JSON body of a resumable upload's first
// request, the first part of a multipart upload). The body is read and put
// back for the fake.
func uploadName(r *http.Request) (string, error) {
	if n := r.URL.Query().Get("name"); n != "" {
		return n, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return "", fmt.Errorf("gcsemu: read upload body: %w", err)
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var meta []byte
	switch r.URL.Query().Get("uploadType") {
	case "resumable":
		meta = body
	case "multipart":
		_, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil {
			return "", fmt.Errorf("gcsemu: multipart upload content type: %w", err)
		}
		part, err := multipart.NewReader(bytes.NewReader(body), params["boundary"]).NextPart()
		if err != nil {
			return "", fmt.Errorf("gcsemu: multipart upload metadata: %w", err)
		}
		if meta, err = io.ReadAll(part); err != nil {
			return "", fmt.Errorf("gcsemu: multipart upload metadata: %w", err)
		}
	default:
		return "", errors.New("gcsemu: upload without an object name")
	}
	var o struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(meta, &o); err != nil || o.Name == "" {
		return "", errors.New("gcsemu: upload metadata names no object")
	}
	return o.Name, nil
}
