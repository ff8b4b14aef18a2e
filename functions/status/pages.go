package status

import (
	"maps"
	"path"
	"slices"
	"time"

	"github.com/dropcast/dropcast/shared/run"
)

// page is what every page shares.
type page struct {
	Title string
	// Refresh reloads the page every RefreshSeconds (a run shown is running).
	Refresh int
	// Now is when the page was made.
	Now string
}

type errorPage struct {
	page
	Code            int
	Message, Detail string
}

// option is one choice of a filter.
type option struct {
	Value    string
	Selected bool
}

type listPage struct {
	page
	Pipelines, Statuses []option
	Pipeline, Status    string
	Rows                []listRow
	// Capped: there were more runs than MaxListed.
	Capped bool
	Max    int
}

type listRow struct {
	ID, Status, Pipeline      string
	Source, SourceURI         string
	Started, StartedISO       string
	Duration                  string
	In, Clean, Rejected, Pred string
	Epoch                     int
	Error, ErrorFull          string
}

func (h *Handler) listPage(f run.Filter, runs []*run.Run, specNames []string, now time.Time) listPage {
	p := listPage{
		page:     page{Title: "dropcast runs", Now: fmtTime(now)},
		Pipeline: f.Pipeline, Status: string(f.Status), Max: MaxListed,
	}
	if len(runs) > MaxListed {
		runs, p.Capped = runs[:MaxListed], true
	}
	names := map[string]bool{}
	for _, n := range specNames {
		names[n] = true
	}
	if f.Pipeline != "" {
		names[f.Pipeline] = true
	}
	for _, r := range runs {
		names[r.Pipeline] = true
		if r.Status == run.Running {
			p.Refresh = RefreshSeconds
		}
		p.Rows = append(p.Rows, listRow{
			ID: r.ID, Status: string(r.Status), Pipeline: r.Pipeline,
			Source: path.Base(r.Source.Object), SourceURI: r.Source.URI(),
			Started: fmtTime(r.CreatedAt), StartedISO: r.CreatedAt.UTC().Format(time.RFC3339),
			Duration: fmtDuration(runDuration(r, now)),
			In:       counter(r, run.RowsIn), Clean: counter(r, run.RowsClean),
			Rejected: counter(r, run.RowsRejected), Pred: counter(r, run.RowsPredicted),
			Epoch: r.Epoch, Error: errorSummary(r, 120), ErrorFull: errorSummary(r, 0),
		})
	}
	for _, n := range slices.Sorted(maps.Keys(names)) {
		p.Pipelines = append(p.Pipelines, option{n, n == f.Pipeline})
	}
	for _, s := range []run.Status{run.Running, run.Succeeded, run.Failed} {
		p.Statuses = append(p.Statuses, option{string(s), s == f.Status})
	}
	return p
}

type runPage struct {
	page
	Run                         *run.Run
	Source                      Link
	Record                      string
	Started, Finished, Duration string
	Chart                       chart
	Steps                       []stepRow
	Counters                    []counterRow
	Outputs                     []outputRow
	Error                       string
	ErrorStep, ErrorAt          string
}

type stepRow struct {
	Name, Status                string
	Attempts, Segments          int
	Started, Finished, Duration string
	Error, LastError            string
}

type counterRow struct {
	Name, Value string
	// Warn marks rows that need a look: rejects, prediction errors.
	Warn bool
}

type outputRow struct {
	Name string
	Link
}

// Link is a location shown as text, with a Cloud Console URL when there is one.
type Link struct {
	Text, URL string
}

func (h *Handler) runPage(r *run.Run, now time.Time) runPage {
	p := runPage{
		page:     page{Title: r.ID + " · dropcast", Now: fmtTime(now)},
		Run:      r,
		Source:   Link{r.Source.URI(), ConsoleURL(r.Source.URI(), h.project)},
		Record:   h.runs.URI(r.ID),
		Started:  fmtTime(r.CreatedAt),
		Finished: fmtTime(r.FinishedAt),
		Duration: fmtDuration(runDuration(r, now)),
		Chart:    newChart(r, now),
	}
	if r.Status == run.Running {
		p.Refresh = RefreshSeconds
	}
	for _, st := range r.Steps {
		row := stepRow{
			Name: st.Name, Status: string(st.Status), Attempts: st.Attempts, Segments: st.Segments,
			Started: fmtTime(st.StartedAt), Finished: fmtTime(st.FinishedAt), Duration: "–",
			Error: st.Error, LastError: st.LastError,
		}
		if d, ok := stepSpan(st, now); ok {
			row.Duration = fmtDuration(d)
		}
		p.Steps = append(p.Steps, row)
	}
	for _, name := range counterOrder(r.Counters) {
		p.Counters = append(p.Counters, counterRow{
			Name: name, Value: fmtInt(r.Counters[name]),
			Warn: (name == run.RowsRejected || name == run.RowsErrored) && r.Counters[name] > 0,
		})
	}
	for _, name := range outputOrder(r.Outputs) {
		v := r.Outputs[name]
		p.Outputs = append(p.Outputs, outputRow{name, Link{v, ConsoleURL(v, h.project)}})
	}
	if r.Error != nil {
		p.Error, p.ErrorStep, p.ErrorAt = r.Error.Message, r.Error.Step, fmtTime(r.Error.At)
	}
	return p
}

// runDuration is how long the run took, or has been running.
func runDuration(r *run.Run, now time.Time) time.Duration {
	end := r.FinishedAt
	if end.IsZero() {
		end = now
	}
	return end.Sub(r.CreatedAt)
}

// stepSpan is how long a step took or has been running; false when it has not started.
func stepSpan(st *run.StepState, now time.Time) (time.Duration, bool) {
	if st.StartedAt.IsZero() {
		return 0, false
	}
	end := st.FinishedAt
	if end.IsZero() {
		end = now
	}
	return end.Sub(st.StartedAt), true
}

// counter formats a counter, "–" when the run has not set it (yet).
func counter(r *run.Run, name string) string {
	v, ok := r.Counters[name]
	if !ok {
		return "–"
	}
	return fmtInt(v)
}

// errorSummary is the run's failure in one line, at most max runes (0: all).
func errorSummary(r *run.Run, max int) string {
	if r.Error == nil {
		return ""
	}
	s := r.Error.Step + ": " + r.Error.Message
	if rs := []rune(s); max > 0 && len(rs) > max {
		return string(rs[:max-1]) + "…"
	}
	return s
}

// knownCounters are shown first, in pipeline order; others follow by name.
var knownCounters = []string{run.RowsIn, run.RowsClean, run.RowsRejected, run.RowsLoaded, run.RowsPredicted, run.RowsErrored, run.RowsResults}

func counterOrder(m map[string]int64) []string {
	return ordered(knownCounters, slices.Sorted(maps.Keys(m)), m)
}

var knownOutputs = []string{"clean", "rejects", "table", "prediction_job", "predictions", "results", "results_table"}

func outputOrder(m map[string]string) []string {
	return ordered(knownOutputs, slices.Sorted(maps.Keys(m)), m)
}

// ordered lists the keys of m: those in first in its order, then the other
// keys (sorted) in their order.
func ordered[V any](first, sorted []string, m map[string]V) []string {
	out := make([]string, 0, len(sorted))
	for _, k := range first {
		if _, ok := m[k]; ok {
			out = append(out, k)
		}
	}
	for _, k := range sorted {
		if !slices.Contains(first, k) {
			out = append(out, k)
		}
	}
	return out
}
