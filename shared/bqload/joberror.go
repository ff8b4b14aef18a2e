package bqload

import (
	"errors"
	"fmt"
	"strings"

	"cloud.google.com/go/bigquery"
)

// maxListed caps the per-row errors a job failure spells out.
const maxListed = 10

// JobError is a load job's failure as BigQuery reported it.
type JobError struct {
	JobID string
	// Errors are the job's error result followed by its other errors (per
	// row, for a CSV load), without repeats.
	Errors []*bigquery.Error
}

// Error lists each error as "reason: message (at location)".
func (e *JobError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "BigQuery load job %s failed: ", e.JobID)
	for i, x := range e.Errors {
		if i == maxListed {
			fmt.Fprintf(&b, "; and %d more errors", len(e.Errors)-maxListed)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(describe(x))
	}
	return b.String()
}

// transientReasons are the job error reasons BigQuery documents as worth a
// retry (a new job; the failed one cannot be resumed): see
// https://cloud.google.com/bigquery/docs/error-messages and fixture
// bigquery-job-retry-reasons. jobRateLimitExceeded says "retry the job with
// a new jobId" there.
var transientReasons = map[string]bool{
	"backendError": true, "internalError": true, "rateLimitExceeded": true,
	"jobBackendError": true, "jobInternalError": true, "jobRateLimitExceeded": true,
}

// Transient reports whether a new job may succeed where this one failed: the
// job's own error (the first) has a transient reason.
func (e *JobError) Transient() bool {
	return len(e.Errors) > 0 && transientReasons[e.Errors[0].Reason]
}

func jobError(jobID string, st *bigquery.JobStatus) error {
	e := &JobError{JobID: jobID}
	seen := map[bigquery.Error]bool{}
	add := func(x *bigquery.Error) {
		if x == nil || seen[*x] {
			return
		}
		seen[*x] = true
		e.Errors = append(e.Errors, x)
	}
	var top *bigquery.Error
	if errors.As(st.Err(), &top) {
		add(top)
	} else {
		add(&bigquery.Error{Message: st.Err().Error()})
	}
	for _, x := range st.Errors {
		add(x)
	}
	return e
}

func describe(e *bigquery.Error) string {
	s := e.Message
	if e.Reason != "" {
		s = e.Reason + ": " + s
	}
	if e.Location != "" {
		s += " (at " + e.Location + ")"
	}
	return s
}
