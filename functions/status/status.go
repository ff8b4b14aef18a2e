// Package status is the HTTP function that shows what the pipeline did: a
// server-rendered page listing recent runs (newest first, filterable by
// pipeline and status), a page per run with its step timeline drawn as an SVG
// bar chart, counters, outputs with Cloud Console links and errors, and each
// run record as JSON.
//
// Routes, relative to wherever the function is mounted (/ on its own URL,
// /status/ in the local stack):
//
//	/                  runs, newest first; ?pipeline=NAME&status=running|succeeded|failed
//	/runs/ID           one run
//	/runs/ID.json      the run record
//
// Every link the pages contain is relative, so the handler works under any
// path prefix. Pages refresh themselves every few seconds while a run they
// show is running.
package status

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/dropcast/dropcast/shared/app"
	"github.com/dropcast/dropcast/shared/run"
	"github.com/dropcast/dropcast/shared/spec"
)

func init() {
	functions.HTTP("status", app.HTTPHandler(func(a *app.App) http.Handler { return New(a) }))
}

// MaxListed is how many runs the list page shows at most: the newest by
// creation time. Listing still reads every record in the state bucket (or
// every record of the pipeline filtered on); see run.Store.Query.
const MaxListed = 200

// RefreshSeconds is how often a page showing a running run reloads itself.
const RefreshSeconds = 5

// Handler serves the status pages.
type Handler struct {
	runs    *run.Store
	specs   *spec.Source // nil: pipeline choices come from the runs listed
	project string
	log     *slog.Logger
	now     func() time.Time
	pages   *template.Template
}

// New returns the status handler of a.
func New(a *app.App) *Handler {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		runs: a.Runs, specs: a.Specs, project: a.Config.Project, log: log,
		now: time.Now, pages: parsePages(),
	}
}

// ServeHTTP routes a request by the end of its path.
func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	p := req.URL.Path
	if i := strings.LastIndex(p, "/runs/"); i >= 0 {
		rest := p[i+len("/runs/"):]
		switch {
		case rest == "":
			redirect(w, req, "../")
			return
		case !strings.Contains(rest, "/"):
			id, isJSON := strings.CutSuffix(rest, ".json")
			h.serveRun(w, req, id, isJSON)
			return
		default:
			h.fail(w, http.StatusNotFound, "no such page", "")
			return
		}
	}
	if p == "" || strings.HasSuffix(p, "/") {
		h.serveList(w, req)
		return
	}
	last := path.Base(p)
	if strings.Contains(last, ".") { // favicon.ico, robots.txt…
		http.NotFound(w, req)
		return
	}
	// The mount point without its slash (/status): relative links need the slash.
	redirect(w, req, last+"/")
}

// redirect sends a relative redirect, which stays right behind any prefix.
func redirect(w http.ResponseWriter, req *http.Request, to string) {
	if req.URL.RawQuery != "" {
		to += "?" + req.URL.RawQuery
	}
	w.Header().Set("Location", to)
	w.WriteHeader(http.StatusMovedPermanently)
}

func (h *Handler) serveRun(w http.ResponseWriter, req *http.Request, id string, isJSON bool) {
	if !run.ValidID(id) {
		h.fail(w, http.StatusNotFound, "no run "+id, "")
		return
	}
	r, err := h.runs.Get(req.Context(), id)
	if errors.Is(err, run.ErrNotFound) {
		h.fail(w, http.StatusNotFound, "no run "+id, "")
		return
	}
	if err != nil {
		h.log.ErrorContext(req.Context(), "status: read run", "run_id", id, "err", err)
		h.fail(w, http.StatusInternalServerError, "cannot read run "+id, err.Error())
		return
	}
	if isJSON {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			h.fail(w, http.StatusInternalServerError, "cannot encode run "+id, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(append(b, '\n'))
		return
	}
	h.render(w, http.StatusOK, "run", h.runPage(r, h.now()))
}

func (h *Handler) serveList(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	f := run.Filter{Pipeline: q.Get("pipeline"), Status: run.Status(q.Get("status")), Limit: MaxListed + 1}
	switch f.Status {
	case "", run.Running, run.Succeeded, run.Failed:
	default:
		h.fail(w, http.StatusBadRequest, "unknown status "+string(f.Status), "want running, succeeded or failed")
		return
	}
	runs, err := h.runs.Query(req.Context(), f)
	if err != nil {
		h.log.ErrorContext(req.Context(), "status: list runs", "err", err)
		h.fail(w, http.StatusInternalServerError, "cannot list runs", err.Error())
		return
	}
	h.render(w, http.StatusOK, "list", h.listPage(f, runs, h.pipelines(req.Context()), h.now()))
}

// pipelines names the pipelines of the deployed specs, for the filter.
func (h *Handler) pipelines(ctx context.Context) []string {
	if h.specs == nil {
		return nil
	}
	set, err := h.specs.Set(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "status: load specs for the pipeline filter", "err", err)
		return nil
	}
	names := make([]string, 0, len(set.Pipelines))
	for _, p := range set.Pipelines {
		names = append(names, p.Name)
	}
	return names
}

// fail answers an error page.
func (h *Handler) fail(w http.ResponseWriter, code int, msg, detail string) {
	h.render(w, code, "error", errorPage{page: page{Title: msg}, Code: code, Message: msg, Detail: detail})
}

// render executes a page into memory first, so a template error is a clean 500.
func (h *Handler) render(w http.ResponseWriter, code int, name string, data any) {
	var b bytes.Buffer
	if err := h.pages.ExecuteTemplate(&b, name, data); err != nil {
		h.log.Error("status: render page", "page", name, "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'")
	w.WriteHeader(code)
	w.Write(b.Bytes())
}
