package bqload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/storage"
)

// Loads of one source (an uploaded object, or a scheduled run) into one
// destination go through a lane: a marker object in the state bucket naming
// the newest load that claimed the destination and the jobs of earlier
// claims not yet seen DONE. BigQuery has no conditional WRITE_TRUNCATE, so
// the lane orders the jobs instead of conditioning them:
//
//  1. A load claims the lane before it inserts its job: it compare-and-swaps
//     the marker (ifGenerationMatch) to its own order (generation, epoch)
//     and job ID, moving the previous holder's job to the pending list. A
//     marker already holding a newer order means the load is overtaken: it
//     inserts nothing.
//  2. It inserts its job only once every pending job is DONE. A pending job
//     that does not exist yet (its holder claimed but has not inserted it,
//     or died in between) is fenced: a no-op query job is inserted under
//     its ID, so that ID can never be a load afterwards: BigQuery keeps one
//     job per ID and answers a second jobs.insert with that ID 409 duplicate
//     (what Load relies on to re-attach; TODO: cite the BigQuery page that
//     says job IDs are unique in a project). The late holder's insert then
//     gets 409, re-attaches to the no-op and, checking the lane after DONE,
//     finds itself overtaken.
//  3. After its job is DONE, the load checks the lane again: overtaken means
//     a newer load claimed while this job ran and waits for it (step 2), so
//     the newer rows are written last; the older run must not go on as if
//     its rows were the table's.
//
// Why this holds under every interleaving: every job that can write to the
// destination was inserted by a holder after its claim (1). A claim made
// while an older job may still run lists that job as pending, directly or
// through the pending list it inherits, and the newer job is inserted only
// after the older is DONE or can no longer exist (2). So the newest claim's
// job is inserted after every older job has committed or failed, and no
// older job is inserted after it: the newest claimed load commits last.
// Pending jobs are dropped from the marker once seen DONE; a DONE job never
// runs again.

// Turn is one load's place in its lane.
type Turn struct {
	// Lane names the destination and the source; loads with the same lane
	// are ordered.
	Lane string
	// Order is (source generation, run epoch): larger is newer.
	Order [2]int64
	// Job is the load job this turn inserts.
	Job Job
}

// OvertakenError says that a newer load (a newer upload, or a newer epoch of
// the run) claimed the destination: it writes the destination's rows.
type OvertakenError struct {
	Lane         string
	Order, Newer [2]int64
}

func (e *OvertakenError) Error() string {
	return fmt.Sprintf("a newer load (generation %d, epoch %d) of %s overtook this one (generation %d, epoch %d); it writes the table's rows",
		e.Newer[0], e.Newer[1], e.Lane, e.Order[0], e.Order[1])
}

// Lanes keeps lane markers in a bucket.
type Lanes struct {
	Storage  *storage.Client
	BigQuery *bigquery.Client
	// Bucket is the state bucket.
	Bucket string
}

type laneMarker struct {
	Lane    string   `json:"lane"`
	Order   [2]int64 `json:"order"`
	Job     Job      `json:"job"`
	Pending []Job    `json:"pending,omitempty"`
}

func (l Lanes) object(lane string) *storage.ObjectHandle {
	h := sha256.Sum256([]byte(lane))
	return l.Storage.Bucket(l.Bucket).Object("lanes/" + hex.EncodeToString(h[:16]) + ".json")
}

// read returns the marker (nil if none) and its generation (0 if none).
func (l Lanes) read(ctx context.Context, lane string) (*laneMarker, int64, error) {
	rd, err := l.object(lane).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read lane %s: %w", lane, err)
	}
	defer rd.Close()
	b, err := io.ReadAll(rd)
	if err != nil {
		return nil, 0, fmt.Errorf("read lane %s: %w", lane, err)
	}
	var m laneMarker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, 0, fmt.Errorf("lane %s: %w", lane, err)
	}
	return &m, rd.Attrs.Generation, nil
}

// write replaces the marker if it is still at generation gen (0: absent);
// it reports false when another writer came first.
func (l Lanes) write(ctx context.Context, m *laneMarker, gen int64) (bool, error) {
	o := l.object(m.Lane)
	if gen == 0 {
		o = o.If(storage.Conditions{DoesNotExist: true})
	} else {
		o = o.If(storage.Conditions{GenerationMatch: gen})
	}
	b, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	w := o.NewWriter(ctx)
	w.ContentType = "application/json"
	if _, err := io.Copy(w, bytes.NewReader(b)); err != nil {
		w.Close()
		return false, fmt.Errorf("write lane %s: %w", m.Lane, err)
	}
	err = w.Close()
	if isStatus(err, http.StatusPreconditionFailed) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("write lane %s: %w", m.Lane, err)
	}
	return true, nil
}

func older(a, b [2]int64) bool { return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]) }

// Acquire claims the lane for t (repeating it is harmless) and reports
// whether t's job may be inserted now: false means an earlier job is still
// running, check again later. A newer claim is an *OvertakenError.
func (l Lanes) Acquire(ctx context.Context, t Turn) (bool, error) {
	for range 5 {
		m, gen, err := l.read(ctx, t.Lane)
		if err != nil {
			return false, err
		}
		if m != nil && older(t.Order, m.Order) {
			return false, &OvertakenError{Lane: t.Lane, Order: t.Order, Newer: m.Order}
		}
		if m == nil || m.Order != t.Order || m.Job != t.Job {
			next := &laneMarker{Lane: t.Lane, Order: t.Order, Job: t.Job}
			if m != nil {
				next.Pending = append(append(next.Pending, m.Pending...), m.Job)
			}
			ok, err := l.write(ctx, next, gen)
			if err != nil {
				return false, err
			}
			if !ok {
				continue // a concurrent claim: look again
			}
			m, gen = next, 0
		}
		for _, j := range m.Pending {
			done, err := l.fence(ctx, j)
			if err != nil {
				return false, err
			}
			if !done {
				return false, nil
			}
		}
		if len(m.Pending) > 0 && gen != 0 {
			// Every pending job is DONE for good: forget them (best effort;
			// a newer claim may have moved the marker meanwhile).
			m.Pending = nil
			if _, err := l.write(ctx, m, gen); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("lane %s: too many concurrent claims", t.Lane)
}

// Check reports, after t's job is DONE, whether a newer load claimed the
// lane meanwhile (an *OvertakenError).
func (l Lanes) Check(ctx context.Context, t Turn) error {
	m, _, err := l.read(ctx, t.Lane)
	if err != nil {
		return err
	}
	if m != nil && older(t.Order, m.Order) {
		return &OvertakenError{Lane: t.Lane, Order: t.Order, Newer: m.Order}
	}
	return nil
}

// fence reports whether job j is DONE; a job that does not exist is made
// impossible by inserting a no-op query under its ID, and is then DONE.
func (l Lanes) fence(ctx context.Context, j Job) (bool, error) {
	for range 2 {
		job, err := l.BigQuery.JobFromProject(ctx, j.Project, j.ID, j.Location)
		if err == nil {
			st := job.LastStatus()
			return st != nil && st.Done(), nil
		}
		if !isStatus(err, http.StatusNotFound) {
			return false, fmt.Errorf("get job %s: %w", j.ID, err)
		}
		q := l.BigQuery.Query("SELECT 1")
		q.JobID = j.ID
		q.Location = j.Location
		q.ProjectID = j.Project
		_, err = q.Run(ctx)
		if err != nil && !isStatus(err, http.StatusConflict) {
			return false, fmt.Errorf("fence job %s: %w", j.ID, err)
		}
	}
	return false, nil
}
